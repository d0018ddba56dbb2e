"""Lazy registration: a cheap ``import desa2va_mm``, mmdet's modules and the checkpoint
allow-list registered by the first lookup in our registries, ``register_all_modules``.

The fresh-interpreter checks run in subprocesses (this test process has long imported
everything), so they are in the slow lane.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HEAVY = ('torch', 'mmengine', 'mmdet', 'mmcv', 'transformers', 'sam2')


def _fresh_python(code: str, *args: str) -> dict:
    """Run ``code`` in a new interpreter (repository on the path); return its JSON line."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', code, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_import_desa2va_mm_is_cheap():
    out = _fresh_python(f"""
import json, sys
import desa2va_mm
print(json.dumps(dict(
    heavy=[m for m in {HEAVY!r} if m in sys.modules],
    ours=sorted(m for m in sys.modules if m.startswith('desa2va_mm')))))
""")
    assert out == dict(heavy=[], ours=['desa2va_mm', 'desa2va_mm.version'])


@pytest.mark.slow
def test_first_lookup_registers_mmdet_modules_and_checkpoint_allow_list(tmp_path):
    """A checkpoint holding MMEngine's message hub is refused by ``torch.load`` in a fresh
    process until a model is built from our registries; then MMEngine's
    ``load_checkpoint`` (what the Runner and the inferencer call) reads it."""
    from mmengine.logging import HistoryBuffer
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(dict(type='Sa2VAProjection', in_channels=4, out_channels=2))
    buffer = HistoryBuffer()
    buffer.update(0.5)
    path = str(tmp_path / 'iter_1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(best=np.float64(0.25)),
                    message_hub=dict(log_scalars={'train/loss': buffer})), path)
    out = _fresh_python("""
import json, pickle, sys
import torch
try:
    torch.load(sys.argv[1], weights_only=True)
    before = 'loaded'
except pickle.UnpicklingError:
    before = 'refused'
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from desa2va_mm.registry import MODELS
mmdet_before = 'DiceLoss' in MMDET_MODELS.module_dict
with DefaultScope.overwrite_default_scope('desa2va_mm'):
    model = MODELS.build(dict(type='Sa2VAProjection', in_channels=4, out_channels=2))
    dice = MODELS.get('DiceLoss')  # climbs into mmdet's table
ckpt = load_checkpoint(model, sys.argv[1], map_location='cpu', strict=True)
print(json.dumps(dict(before=before, mmdet_before=mmdet_before, dice=dice.__module__,
                      loss=ckpt['message_hub']['log_scalars']['train/loss'].current(),
                      best=float(ckpt['meta']['best']))))
""", path)
    assert out == dict(before='refused', mmdet_before=False, dice='mmdet.models.losses.dice_loss',
                       loss=0.5, best=0.25)


@pytest.mark.slow
def test_mmdet_config_with_custom_imports_reaches_our_modules_in_a_fresh_process(tmp_path):
    cfg_file = tmp_path / 'mmdet_style.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['desa2va_mm'], allow_failed_imports=False)\n"
        "default_scope = 'mmdet'\n"
        "neck = dict(type='desa2va_mm.Sa2VAProjection', in_channels=16, out_channels=8)\n"
        "loss = dict(type='DiceLoss')\n")
    out = _fresh_python("""
import json, sys
from mmengine.config import Config
from mmengine.registry import DefaultScope
cfg = Config.fromfile(sys.argv[1])  # runs custom_imports
from mmdet.registry import MODELS
with DefaultScope.overwrite_default_scope('mmdet'):
    neck = MODELS.build(cfg.neck)
    loss = MODELS.build(cfg.loss)
print(json.dumps(dict(neck=type(neck).__module__, loss=type(loss).__name__)))
""", str(cfg_file))
    assert out == dict(neck='desa2va_mm.models.necks.sa2va_projection', loss='DiceLoss')


def test_register_all_modules_registers_everything_and_sets_the_scope():
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import DATASETS, HOOKS, METRICS, MODELS, TOKENIZERS, TRANSFORMS
    from desa2va_mm.utils import checkpoint_safe_globals, register_all_modules
    register_all_modules(init_default_scope=True)
    assert DefaultScope.get_current_instance().scope_name == 'desa2va_mm'
    assert set(checkpoint_safe_globals()) <= set(torch.serialization.get_safe_globals())
    for registry, name in ((MODELS, 'DeSa2VA'), (DATASETS, 'MeViSDataset'),
                           (TRANSFORMS, 'TokenizeConversation'), (METRICS, 'VideoJFMetric'),
                           (HOOKS, 'ModelTokenizerHook'), (TOKENIZERS, 'TinyWordTokenizer')):
        assert name in registry.module_dict, (registry.name, name)
    # mmdet's modules are in mmdet's own tables (lookups climb there).
    from mmdet.registry import MODELS as MMDET_MODELS
    assert 'DiceLoss' in MMDET_MODELS.module_dict


def test_internvl_state_dict_loader_registers_the_allow_list(tmp_path):
    """``load_state_dict_files`` (``tools/model_converters``) reads an MMEngine ``.pth``
    even when nothing registered the allow-list before."""
    import pickle

    from mmengine.logging import HistoryBuffer

    from desa2va_mm.utils.internvl_conversion import load_state_dict_files
    buffer = HistoryBuffer()
    buffer.update(1.0)
    path = str(tmp_path / 'iter_1.pth')
    torch.save(dict(state_dict={'w': torch.ones(2)},
                    message_hub=dict(log_scalars={'loss': buffer})), path)
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(path, weights_only=True)
        state = load_state_dict_files(path)
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)
    assert list(state) == ['w'] and torch.equal(state['w'], torch.ones(2))
