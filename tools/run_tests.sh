#!/usr/bin/env bash
# Install what is missing (seconds when nothing is), then run the test suite in two lanes:
# the fast lane (unit and model tests) and the slow lane (subprocesses, distributed runs,
# end-to-end training, the real-path rehearsal). Prints each lane's wall time.
#   bash tools/run_tests.sh                 # both lanes (what .ci/run calls)
#   bash tools/run_tests.sh -m "not slow"   # any pytest arguments: one run with them
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# mmsegmentation too: projects/sam2_refine_mmseg and its test use it.
WITH_MMSEG=1 bash tools/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if [[ $# -gt 0 ]]; then
  exec python -m pytest tests -q -p no:cacheprovider "$@"
fi
lane() {
  local name=$1; shift
  local start=$SECONDS
  python -m pytest tests -q -p no:cacheprovider --durations=15 "$@"
  echo "[run_tests] $name lane: $((SECONDS - start)) s"
}
total=$SECONDS
lane fast -m "not slow"
lane slow -m slow
echo "[run_tests] both lanes passed in $((SECONDS - total)) s"
