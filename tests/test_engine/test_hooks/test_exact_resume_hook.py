"""ExactResumeHook: a tiny run killed after its iteration-2 checkpoint and resumed with
``resume=True`` ends bit-identical (parameters, optimizer state) to an uninterrupted
4-iteration run, sees the same batches in the same order, and continues the Python /
NumPy / torch random streams exactly (also with a dataloader worker process)."""
import os.path as osp
import random

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

from conftest import load_tiny_cfg


class Killed(Exception):
    pass


class ProbeHook(Hook):
    """Records each iteration's batch and draws from every RNG (as dropout or random
    point sampling would); optionally 'kills' the run before iteration ``kill_at + 1``."""

    priority = 'LOWEST'

    def __init__(self, kill_at=None):
        self.kill_at = kill_at
        self.seen = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.kill_at is not None and runner.iter == self.kill_at:
            raise Killed()
        ids = tuple(int(s.metainfo['img_id']) for s in data_batch['data_samples'])
        draws = (torch.rand(1).item(), float(np.random.rand()), random.random())
        self.seen[runner.iter] = (ids, draws)


def _runner(tmp_path, data_root, name, resume=False, num_workers=0, probe=None,
            fast_forward=False):
    from mmengine.runner import Runner

    import desa2va_mm  # noqa: F401
    cfg = load_tiny_cfg(data_root, 'configs/sa2va/sa2va_tiny.py')
    cfg.work_dir = str(tmp_path / name.split('-')[0])
    cfg.experiment_name = f'exact_resume_{name}_{num_workers}_{fast_forward}'
    cfg.load_from = None
    cfg.resume = resume
    cfg.log_level = 'WARNING'
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = num_workers
    cfg.train_dataloader.persistent_workers = num_workers > 0
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2,
                                        max_keep_ckpts=-1)
    cfg.default_hooks.pop('visualization')
    assert cfg.default_hooks.exact_resume.type == 'ExactResumeHook'  # on by default
    cfg.default_hooks.exact_resume.fast_forward = fast_forward
    runner = Runner.from_cfg(cfg)
    runner.register_hook(probe)
    return runner


@pytest.mark.parametrize('num_workers, fast_forward', [(0, False), (1, False), (0, True)])
def test_killed_and_resumed_run_is_bit_identical(tmp_path, synthetic_refcoco, num_workers,
                                                 fast_forward):
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()

    full_probe = ProbeHook()
    _runner(tmp_path, synthetic_refcoco, 'full', num_workers=num_workers,
            probe=full_probe).train()

    killed_probe = ProbeHook(kill_at=2)
    with pytest.raises(Killed):
        _runner(tmp_path, synthetic_refcoco, 'cut-a', num_workers=num_workers,
                probe=killed_probe).train()
    assert osp.isfile(tmp_path / 'cut' / 'iter_2.pth')
    assert not osp.exists(tmp_path / 'cut' / 'iter_3.pth')
    resumed_probe = ProbeHook()
    runner = _runner(tmp_path, synthetic_refcoco, 'cut-b', resume=True,
                     num_workers=num_workers, probe=resumed_probe, fast_forward=fast_forward)
    dataset = runner.train_dataloader.dataset
    loads = []
    prepare_data = dataset.prepare_data
    dataset.prepare_data = lambda idx: loads.append(idx) or prepare_data(idx)
    runner.train()
    if num_workers == 0:
        # MMEngine's fast-forward loads the 2 trained batches again; ours does not
        assert len(loads) == (2 if fast_forward else 4) * 2

    # data order and random streams continue where the killed run stopped
    assert sorted(resumed_probe.seen) == [2, 3]
    for it in (0, 1):
        assert killed_probe.seen[it] == full_probe.seen[it]
    for it in (2, 3):
        assert resumed_probe.seen[it] == full_probe.seen[it], it

    full = torch.load(tmp_path / 'full' / 'iter_4.pth')  # weights_only=True
    cut = torch.load(tmp_path / 'cut' / 'iter_4.pth')
    assert full['state_dict'].keys() == cut['state_dict'].keys()
    for key, value in full['state_dict'].items():
        assert torch.equal(value, cut['state_dict'][key]), key
    opt_full, opt_cut = full['optimizer']['state'], cut['optimizer']['state']
    assert opt_full.keys() == opt_cut.keys() and len(opt_full) > 0
    for i in opt_full:
        for k, v in opt_full[i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(opt_cut[i][k])), (i, k)
    assert full['param_schedulers'] == cut['param_schedulers']
    assert 'rng_state' in cut and cut['rng_state']['sampler_seed'] == 0


def test_rng_state_round_trip_and_checkpoint_safe(tmp_path):
    from desa2va_mm.engine.hooks.exact_resume_hook import get_rng_state, set_rng_state
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    np.random.randn()  # a cached Gaussian in the NumPy state
    state = get_rng_state()
    torch.save(dict(rng_state=state), tmp_path / 'rng.pth')
    expected = (torch.rand(3), np.random.randn(3), random.random())
    loaded = torch.load(tmp_path / 'rng.pth')['rng_state']  # weights_only=True
    set_rng_state(loaded)
    got = (torch.rand(3), np.random.randn(3), random.random())
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_validation_does_not_consume_training_randomness():
    from desa2va_mm.engine.hooks import ExactResumeHook
    hook = ExactResumeHook()
    torch.manual_seed(0)
    np.random.seed(0)
    hook.before_val(None)
    torch.rand(5)
    np.random.rand(5)
    hook.after_val(None)
    a = (torch.rand(1), np.random.rand())
    torch.manual_seed(0)
    np.random.seed(0)
    assert a == (torch.rand(1), np.random.rand())
