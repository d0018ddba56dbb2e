"""``register_checkpoint_safe_globals``: MMEngine checkpoints load with torch's default
``weights_only=True``; crafted pickles are still refused and never executed.

Uses only ``desa2va_mm.utils.checkpoint_safety``, MMEngine and the toy plugin in
``tests/data/toy_plugin`` (registered in MMEngine's root registries); the checkpoints
come from a real ``Runner`` (IterBasedTrainLoop, AdamW, LinearLR + MultiStepLR,
CheckpointHook with ``save_best``), trained 4 iterations and resumed to 6.
"""
import importlib.util
import os
import os.path as osp
import pickle
import subprocess
import sys
import zipfile

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TESTS_DATA = osp.join(REPO_ROOT, 'tests', 'data')
TOY_CONFIG = osp.join(TESTS_DATA, 'configs', 'toy_ref.py')


def _import_checkpoint_safety():
    try:
        from desa2va_mm.utils import checkpoint_safety
        return checkpoint_safety
    except Exception:  # noqa: BLE001 - the rest of the package may be mid-edit
        path = osp.join(REPO_ROOT, 'desa2va_mm', 'utils', 'checkpoint_safety.py')
        spec = importlib.util.spec_from_file_location(
            '_desa2va_checkpoint_safety', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


checkpoint_safety = _import_checkpoint_safety()


@pytest.fixture(autouse=True)
def _registered():
    """Every test starts (and ends) with our globals registered."""
    checkpoint_safety.register_checkpoint_safe_globals()
    yield
    checkpoint_safety.register_checkpoint_safe_globals()


def _run_toy_runner(work_dir, max_iters, resume):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(TOY_CONFIG)
    # MMEngine scope: the toy modules live in MMEngine's root registries, so this
    # does not need the rest of desa2va_mm.
    cfg.default_scope = 'mmengine'
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_iters = max_iters
    cfg.resume = resume
    cfg.log_level = 'WARNING'
    cfg.experiment_name = f'ckpt_safety_{max_iters}_{resume}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.fixture(scope='module')
def runner_checkpoints(tmp_path_factory):
    """A real Runner's checkpoints: iter 2, 4, best (save_best), 6 (after resume)."""
    checkpoint_safety.register_checkpoint_safe_globals()
    work_dir = tmp_path_factory.mktemp('ckpt_safety_runner')
    sys.path.insert(0, TESTS_DATA)  # toy_plugin, for custom_imports
    saved_env = dict(os.environ)
    try:
        _run_toy_runner(work_dir, max_iters=4, resume=False)
        # Runner.resume loads iter_4.pth through mmengine's load_checkpoint.
        _run_toy_runner(work_dir, max_iters=6, resume=True)
    finally:
        sys.path.remove(TESTS_DATA)
        os.environ.clear()
        os.environ.update(saved_env)
    files = sorted(osp.join(work_dir, f) for f in os.listdir(work_dir)
                   if f.endswith('.pth'))
    names = [osp.basename(f) for f in files]
    assert {'iter_2.pth', 'iter_4.pth', 'iter_6.pth'} <= set(names), names
    assert any(n.startswith('best_toy_acc_iter_') for n in names), names
    return files


def test_runner_checkpoints_load_with_default_weights_only(runner_checkpoints):
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    for path in runner_checkpoints:
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
        ckpt = torch.load(path)  # weights_only defaults to True (torch >= 2.6)
        assert {'meta', 'state_dict', 'message_hub'} <= set(ckpt)
        hub = ckpt['message_hub']
        assert 'train/loss' in hub['log_scalars']
        assert hub['log_scalars']['train/loss'].mean() > 0
        assert 'best_score' in hub['runtime_info']  # a numpy.float64 (save_best)
    last = torch.load(runner_checkpoints[[osp.basename(f) for f in runner_checkpoints]
                                          .index('iter_6.pth')])
    assert last['meta']['iter'] == 6
    assert {'optimizer', 'param_schedulers'} <= set(last)
    assert len(last['param_schedulers']) == 2


def test_mmengine_loaders_read_runner_checkpoints(runner_checkpoints):
    from mmengine.runner import CheckpointLoader, load_checkpoint
    from toy_plugin import ToyRefModel  # noqa: F401  (imported by the fixture)
    path = [f for f in runner_checkpoints if f.endswith('iter_4.pth')][0]
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert ckpt['meta']['iter'] == 4
    model = ToyRefModel()
    load_checkpoint(model, path, map_location='cpu', strict=True)
    assert torch.equal(model.linear.weight, ckpt['state_dict']['linear.weight'])


def test_every_allowed_global_is_needed(runner_checkpoints):
    """Each entry is needed by these checkpoints, except the numpy 1.x aliases
    (checked by ``test_numpy1_checkpoint_names_load``)."""
    entries = checkpoint_safety.checkpoint_safe_globals()
    names = [name for _, name in entries]
    assert names == [
        'mmengine.logging.history_buffer.HistoryBuffer',
        'builtins.getattr',
        'numpy._core.multiarray._reconstruct',
        'numpy.core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar',
        'numpy.core.multiarray.scalar',
        'numpy.ndarray',
        'numpy.dtype',
        'numpy.dtypes.Float64DType',
        'numpy.dtypes.Int64DType',
    ]
    saved = torch.serialization.get_safe_globals()
    try:
        torch.serialization.clear_safe_globals()
        with pytest.raises(pickle.UnpicklingError):
            torch.load(runner_checkpoints[0])
        for entry in entries:
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals([e for e in entries if e is not entry])
            failed = False
            for path in runner_checkpoints:
                try:
                    torch.load(path)
                except pickle.UnpicklingError:
                    failed = True
                    break
            assert failed != entry[1].startswith('numpy.core.'), entry[1]
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


def test_numpy1_checkpoint_names_load(runner_checkpoints, tmp_path):
    """Files written under numpy 1.x name ``numpy.core.multiarray.*``."""
    src = [f for f in runner_checkpoints if f.endswith('iter_4.pth')][0]
    dst = str(tmp_path / 'numpy1_names.pth')
    replaced = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith('data.pkl'):
                replaced = data.count(b'numpy._core.multiarray')
                data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
            zout.writestr(info, data)
    assert replaced >= 2
    ckpt = torch.load(dst)
    assert ckpt['meta']['iter'] == 4
    assert ckpt['message_hub']['log_scalars']['train/loss'].current() > 0


def test_register_is_idempotent():
    before = set(torch.serialization.get_safe_globals())
    checkpoint_safety.register_checkpoint_safe_globals()
    checkpoint_safety.register_checkpoint_safe_globals()
    after = set(torch.serialization.get_safe_globals())
    assert after == before
    assert set(checkpoint_safety.checkpoint_safe_globals()) <= after


# ---- crafted checkpoints -------------------------------------------------------------
class _ShellPayload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'echo pwned > {self.marker}', ))


class _SubprocessPayload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.check_call, (['sh', '-c', f'echo pwned > {self.marker}'], ))


class _EvalPayload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').write('pwned')", ))


class _GetattrPayload:
    """Abuses ``builtins.getattr`` (allowed under that name, for HistoryBuffer only)."""

    def __init__(self, target, name):
        self.target, self.name = target, name

    def __reduce__(self):
        return (getattr, (self.target, self.name))


def _payloads(marker):
    from mmengine.logging import HistoryBuffer
    return {
        'os.system': _ShellPayload(marker),
        'subprocess.check_call': _SubprocessPayload(marker),
        'builtins.eval': _EvalPayload(marker),
        'function reference': os.system,
        'getattr(HistoryBuffer, __init__)': _GetattrPayload(HistoryBuffer, '__init__'),
        'getattr(HistoryBuffer.min, __globals__)': _GetattrPayload(HistoryBuffer.min,
                                                                   '__globals__'),
    }


@pytest.mark.parametrize('kind', list(_payloads('x')))
def test_crafted_checkpoint_is_refused(tmp_path, kind):
    from mmengine.runner import CheckpointLoader, load_checkpoint
    marker = tmp_path / 'PWNED'
    payload = _payloads(str(marker))[kind]
    path = str(tmp_path / 'evil.pth')
    # Looks like an MMEngine checkpoint; the payload sits in ``meta``.
    torch.save(
        dict(meta=dict(evil=payload), state_dict={'linear.weight': torch.zeros(1, 4)}),
        path)

    with pytest.raises(pickle.UnpicklingError) as err:
        torch.load(path)
    if kind.startswith('getattr'):
        # refused by our restricted stand-in for builtins.getattr
        assert 'Refusing getattr' in str(err.value)
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(torch.nn.Linear(4, 1), path, map_location='cpu')
    assert not marker.exists(), 'the payload ran'


def test_forced_weights_only_loads_overrides_a_library_asking_for_unsafe(tmp_path):
    # DeepSpeed's checkpoint engine calls torch.load(..., weights_only=False); inside the
    # block the restricted unpickler still runs, and the original torch.load comes back.
    from desa2va_mm.utils.checkpoint_safety import forced_weights_only_loads
    marker = tmp_path / 'PWNED'
    path = str(tmp_path / 'mp_rank_00_model_states.pt')
    torch.save(dict(module={'w': torch.ones(2)}, evil=_ShellPayload(str(marker))), path)
    good = str(tmp_path / 'good.pt')
    torch.save(dict(module={'w': torch.ones(2)}), good)
    original = torch.load
    with forced_weights_only_loads():
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, map_location='cpu', weights_only=False)
        assert torch.equal(torch.load(good, weights_only=False)['module']['w'], torch.ones(2))
    assert torch.load is original
    assert not marker.exists(), 'the payload ran'
