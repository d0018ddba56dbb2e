#!/usr/bin/env bash
# One idempotent installer for desa2va_mm into the *active* Python environment.
#
#   bash tools/setup_env.sh               # install what is missing (~2 s when nothing is)
#   FORCE=1 bash tools/setup_env.sh       # re-check every pin with pip
#   WITH_MMSEG=1 bash tools/setup_env.sh  # also mmsegmentation (projects/sam2_refine_mmseg)
#   DEPS_ONLY=1 bash tools/setup_env.sh   # everything but desa2va_mm itself (docker/Dockerfile)
#
# torch: an existing one is kept (CUDA or CPU), else the CPU torch==$TORCH_VERSION.
# torchvision: never installed. An existing one is kept when it is the build made for the
# installed torch, and refused, before anything is installed, when it is not (e.g. PyPI's
# CUDA-only wheel beside a CPU torch): `python tools/env_check.py torchvision` says why.
# mmcv: built with its compiled ops; CUDA ops when torch is a CUDA build and nvcc is found.
# Web demo and its browser test: gradio, selenium, and Debian's chromium + chromium-driver
# (apt-get, when running as root; otherwise the command to run is printed and the browser
# test skips).
# Versions and their reasons: ../docs/get_started.md; accepted ranges: ../setup.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python}
PIP="$PY -m pip install --disable-pip-version-check -q"
CHECK="$PY tools/env_check.py"

TORCH_VERSION=${TORCH_VERSION:-2.13.0}
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
SAM2_VERSION=1.1.0
TRANSFORMERS_VERSION=5.24.0
PEFT_VERSION=0.21.0
DEEPSPEED_VERSION=0.19.6
# gradio 6.31: huggingface_hub >= 1.16 (what transformers 5 needs), pillow < 13.
# selenium 4.32: the newest that keeps the machine image's trio 0.22 (later ones upgrade it).
GRADIO_VERSION=6.31.0
SELENIUM_VERSION=4.32.0
SETUPTOOLS_SPEC="setuptools>=77,<82"
WITH_MMSEG=${WITH_MMSEG:-0}
DEPS_ONLY=${DEPS_ONLY:-0}

# The browser test drives Debian's Chromium through its own driver (no browser download).
have_browser() { [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; }
can_apt() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; }
browser_hint() {
  echo "[setup_env] chromium / chromium-driver missing (installing needs root):" \
    "sudo apt-get install chromium chromium-driver; until then the web demo's browser test skips"
}

# Fast path: every pin installed, mmcv's ops load, torchvision absent or matching torch,
# desa2va_mm linked from this checkout -> done in ~2 s (metadata reads, one torch import;
# importing the whole stack would take ~8 s).
have_all() {
  if can_apt && ! have_browser; then
    return 1
  fi
  $PY - <<PYEOF 2>/dev/null
import importlib.metadata as md, importlib.util, os, sys
repo = os.path.realpath('.')
if sys.path and sys.path[0] == '':  # the cwd: find desa2va_mm where it is installed
    sys.path.pop(0)
sys.path.insert(0, os.path.join(repo, 'tools'))
import env_check
want = {'mmcv': '$MMCV_VERSION', 'mmengine': '$MMENGINE_VERSION', 'mmdet': '$MMDET_VERSION',
        'sam2': '$SAM2_VERSION', 'transformers': '$TRANSFORMERS_VERSION',
        'peft': '$PEFT_VERSION', 'deepspeed': '$DEEPSPEED_VERSION',
        'gradio': '$GRADIO_VERSION', 'selenium': '$SELENIUM_VERSION'}
modules = ['torch', 'pycocotools', 'hydra', 'iopath', 'pytest', 'pytest_timeout', 'scipy',
           'skimage', 'av', 'cv2', 'sentencepiece', 'google.protobuf',
           'pkg_resources']  # mmengine 0.10.7 imports it: setuptools < 82
if '$WITH_MMSEG' == '1':
    want['mmsegmentation'] = '$MMSEG_VERSION'
    modules += ['ftfy', 'regex']
for name, version in want.items():
    if md.version(name) != version:
        sys.exit(1)
for name in modules:
    if importlib.util.find_spec(name) is None:
        sys.exit(1)
if '$DEPS_ONLY' != '1':
    spec = importlib.util.find_spec('desa2va_mm')  # the installed one must be this checkout
    if spec is None or not os.path.realpath(spec.origin).startswith(repo + os.sep):
        sys.exit(1)
torchvision = env_check.check_torchvision()
if not torchvision.ok:
    sys.exit(1)
if env_check.mmcv_ops_problem(env_check.check_mmcv_build().mode):
    sys.exit(1)
if torchvision.status == 'compatible':
    print('[setup_env] ' + torchvision.message)
PYEOF
}

if [[ "${FORCE:-0}" != 1 ]] && have_all; then
  have_browser || browser_hint
  if [[ "$DEPS_ONLY" == 1 ]]; then
    echo "[setup_env] dependencies already complete"
  else
    echo "[setup_env] environment already complete"
  fi
  exit 0
fi

step() { echo "[setup_env] $*"; }

# Before anything is installed: a torchvision that does not match torch is refused here
# (the message names the reason and both fixes); a matching one is kept.
if ! $CHECK torchvision; then
  echo "[setup_env] ERROR: refusing to install beside this torchvision (see above); nothing" >&2
  echo "            was installed or removed" >&2
  exit 1
fi

if $PY -c "import torch" 2>/dev/null; then
  step "keeping existing torch $($PY -c 'import torch; print(torch.__version__)')"
else
  step "installing torch==$TORCH_VERSION"
  $PIP "torch==$TORCH_VERSION"
fi

step "build tools ($SETUPTOOLS_SPEC, wheel, ninja)"
$PIP "$SETUPTOOLS_SPEC" wheel ninja

# cuda: torch is a CUDA build and nvcc of the same CUDA major is found; cpu otherwise
# (a warning says what is missing when torch is a CUDA build).
MMCV_BUILD=$($CHECK mmcv-build)
if $PY -c "import importlib.metadata as m, sys; sys.exit(m.version('mmcv') != '$MMCV_VERSION')" 2>/dev/null \
   && $CHECK mmcv-ops --build "$MMCV_BUILD" >/dev/null 2>&1; then
  step "mmcv $MMCV_VERSION with $MMCV_BUILD ops present"
else
  # --no-build-isolation: the isolated build env has no torch and silently skips the ops.
  MMCV_FLAGS=(--no-build-isolation)
  if $PY -c "import importlib.metadata as m; m.version('mmcv')" 2>/dev/null; then
    # installed without (the right) ops: pip would call it satisfied and keep it
    MMCV_FLAGS+=(--force-reinstall --no-deps)
  fi
  if [[ "$MMCV_BUILD" == cuda ]]; then
    # --no-cache-dir: never reuse a CPU-ops wheel of the same version from pip's cache.
    step "building mmcv $MMCV_VERSION with CUDA ops for TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-(unset: the visible GPUs)}"
    step "(every op for every architecture: long; set TORCH_CUDA_ARCH_LIST to build fewer)"
    MMCV_WITH_OPS=1 FORCE_CUDA=1 $PIP "${MMCV_FLAGS[@]}" --no-cache-dir "mmcv==$MMCV_VERSION"
  else
    step "building mmcv $MMCV_VERSION with ops (about 12 min on 2 cores the first time; pip caches the wheel)"
    MMCV_WITH_OPS=1 $PIP "${MMCV_FLAGS[@]}" "mmcv==$MMCV_VERSION"
  fi
  if ! $CHECK mmcv-ops --build "$MMCV_BUILD"; then
    echo "[setup_env] ERROR: mmcv $MMCV_VERSION was built but its $MMCV_BUILD ops are missing;" >&2
    echo "            see the build output above (FORCE=1 rebuilds)" >&2
    exit 1
  fi
fi

step "OpenMMLab, transformers, peft and the rest"
$PIP "mmengine==$MMENGINE_VERSION" "mmdet==$MMDET_VERSION" \
  "transformers==$TRANSFORMERS_VERSION" "peft==$PEFT_VERSION" \
  pycocotools scipy "av==18.1.0" pytest pytest-timeout hydra-core iopath tqdm pillow scikit-image \
  "opencv-python" "numpy<2.5" sentencepiece protobuf \
  "gradio==$GRADIO_VERSION" "selenium==$SELENIUM_VERSION"

if have_browser; then
  :
elif can_apt; then
  step "chromium + chromium-driver (apt-get: the web demo's browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  browser_hint
fi

if [[ "$WITH_MMSEG" == 1 ]]; then
  step "mmsegmentation $MMSEG_VERSION (WITH_MMSEG=1; it imports ftfy and regex)"
  $PIP "mmsegmentation==$MMSEG_VERSION" ftfy regex
fi

# No deps: they would pull torchvision. SAM2_BUILD_CUDA=0 on GPU machines too: sam2's only
# CUDA extension (connected components, used by its video predictor to fill small holes
# in masks) is optional; sam2 skips that step with a warning and desa2va_mm never calls it.
step "sam2 $SAM2_VERSION (no CUDA extension, no deps)"
if ! $PY -c "import importlib.metadata as m, sys; sys.exit(m.version('sam2') != '$SAM2_VERSION')" 2>/dev/null; then
  SAM2_BUILD_CUDA=0 $PIP --no-build-isolation --no-deps "sam2==$SAM2_VERSION"
fi

# DeepSpeedStrategy configs (ZeRO-2/3). No prebuilt ops (JIT when needed); 0.19.7+ removed
# a module mmengine 0.10.7's DeepSpeedStrategy imports.
step "deepspeed $DEEPSPEED_VERSION (DS_BUILD_OPS=0)"
if ! $PY -c "import importlib.metadata as m, sys; sys.exit(m.version('deepspeed') != '$DEEPSPEED_VERSION')" 2>/dev/null; then
  DS_BUILD_OPS=0 $PIP "deepspeed==$DEEPSPEED_VERSION"
fi

if [[ "$DEPS_ONLY" != 1 ]]; then
  step "desa2va_mm (editable)"
  $PIP --no-build-isolation --no-deps -e .
fi

# Something above may have upgraded setuptools; mmengine needs pkg_resources.
$PIP "$SETUPTOOLS_SPEC"

if have_all; then
  step "done"
else
  echo "[setup_env] ERROR: the environment is still incomplete; see the messages above" >&2
  exit 1
fi
