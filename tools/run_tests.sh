#!/usr/bin/env bash
# Install what is missing (seconds when nothing is), then run the test suite.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
exec python -m pytest tests -q -p no:cacheprovider "$@"
