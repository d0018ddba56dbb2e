#!/usr/bin/env bash
# One idempotent installer for desa2va_mm into the *active* Python environment.
#
#   bash tools/setup_env.sh          # install what is missing (seconds when nothing is)
#   FORCE=1 bash tools/setup_env.sh  # re-check every pin with pip
#
# Pins and their reasons live in ../docs/get_started.md. Never installs torchvision: PyPI's
# build is CUDA-only, fails to import beside CPU torch and breaks transformers' image
# processors; nothing here needs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python}
PIP="$PY -m pip install --disable-pip-version-check -q"

TORCH_VERSION=${TORCH_VERSION:-2.13.0}
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
SAM2_VERSION=1.1.0
TRANSFORMERS_VERSION=5.24.0
PEFT_VERSION=0.21.0
DEEPSPEED_VERSION=0.19.6
SETUPTOOLS_SPEC="setuptools>=77,<82"

# Fast path: everything importable at the pinned versions -> done in ~2 s.
have_all() {
  $PY - <<PYEOF 2>/dev/null
import importlib.metadata as md, sys
want = {'mmcv': '$MMCV_VERSION', 'mmengine': '$MMENGINE_VERSION', 'mmdet': '$MMDET_VERSION',
        'mmsegmentation': '$MMSEG_VERSION', 'sam2': '$SAM2_VERSION',
        'transformers': '$TRANSFORMERS_VERSION', 'peft': '$PEFT_VERSION',
        'deepspeed': '$DEEPSPEED_VERSION'}
for name, ver in want.items():
    if md.version(name) != ver:
        sys.exit(1)
for name in ('torch', 'pycocotools', 'hydra', 'iopath', 'pytest', 'ftfy', 'regex',
             'scipy', 'skimage', 'av', 'desa2va_mm'):
    __import__(name)
import pkg_resources  # mmengine 0.10.7 needs it: setuptools < 82
import mmcv.ops  # the compiled ops, not mmcv-lite
try:
    import torchvision  # noqa: F401
    sys.exit(1)
except ImportError:
    pass
PYEOF
}

if [[ "${FORCE:-0}" != 1 ]] && have_all; then
  echo "[setup_env] environment already complete"
  exit 0
fi

step() { echo "[setup_env] $*"; }

if $PY -c "import torchvision" 2>/dev/null; then
  echo "[setup_env] ERROR: torchvision is installed in this environment. It breaks transformers'" >&2
  echo "            image processors beside CPU torch; remove it: pip uninstall -y torchvision" >&2
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

if $PY -c "import importlib.metadata as m, sys; sys.exit(m.version('mmcv') != '$MMCV_VERSION')" 2>/dev/null \
   && $PY -c "import mmcv.ops" 2>/dev/null; then
  step "mmcv $MMCV_VERSION with ops present"
else
  # --no-build-isolation: the isolated build env has no torch and silently skips the ops.
  step "building mmcv $MMCV_VERSION with ops (about 12 min on 2 cores the first time; pip caches the wheel)"
  MMCV_WITH_OPS=1 $PIP --no-build-isolation "mmcv==$MMCV_VERSION"
fi

step "OpenMMLab, transformers, peft and the rest"
$PIP "mmengine==$MMENGINE_VERSION" "mmdet==$MMDET_VERSION" "mmsegmentation==$MMSEG_VERSION" \
  "transformers==$TRANSFORMERS_VERSION" "peft==$PEFT_VERSION" \
  pycocotools ftfy regex scipy "av==18.1.0" pytest hydra-core iopath tqdm pillow scikit-image \
  "opencv-python" "numpy<2.5"

step "sam2 $SAM2_VERSION (no CUDA extension, no deps: it would pull torchvision)"
if ! $PY -c "import importlib.metadata as m, sys; sys.exit(m.version('sam2') != '$SAM2_VERSION')" 2>/dev/null; then
  SAM2_BUILD_CUDA=0 $PIP --no-build-isolation --no-deps "sam2==$SAM2_VERSION"
fi

# DeepSpeedStrategy configs (ZeRO-2/3). No prebuilt ops (JIT when needed); 0.19.7+ removed
# a module mmengine 0.10.7's DeepSpeedStrategy imports.
step "deepspeed $DEEPSPEED_VERSION (DS_BUILD_OPS=0)"
if ! $PY -c "import importlib.metadata as m, sys; sys.exit(m.version('deepspeed') != '$DEEPSPEED_VERSION')" 2>/dev/null; then
  DS_BUILD_OPS=0 $PIP "deepspeed==$DEEPSPEED_VERSION"
fi

step "desa2va_mm (editable)"
$PIP --no-build-isolation --no-deps -e .

# Something above may have upgraded setuptools; mmengine needs pkg_resources.
$PIP "$SETUPTOOLS_SPEC"

if have_all; then
  step "done"
else
  echo "[setup_env] ERROR: the environment is still incomplete; see the messages above" >&2
  exit 1
fi
