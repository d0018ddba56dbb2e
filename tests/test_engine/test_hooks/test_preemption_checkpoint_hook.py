"""PreemptionCheckpointHook: a preemption signal saves a checkpoint at the next iteration
boundary and stops the run cleanly; ``--resume`` continues it bit-exactly.

Fast tests run the toy model (``tests/data/toy_plugin``) in this process and deliver real
signals to it (``os.kill(os.getpid(), ...)`` from inside an iteration, i.e. at an arbitrary
point of the step, as a scheduler would). The slow tests run ``tools/train.py`` and
``tools/dist_train.sh`` on the tiny Sa2VA config and signal them from outside.
"""
import itertools
import os
import os.path as osp
import random
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

from conftest import REPO_ROOT

TESTS_DATA = osp.join(REPO_ROOT, 'tests', 'data')
TOY_CONFIG = osp.join(TESTS_DATA, 'configs', 'toy_ref.py')
_names = itertools.count()


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """Leave the test process's SIGTERM / SIGUSR1 / SIGUSR2 handlers as they were."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}
    if TESTS_DATA not in sys.path:
        sys.path.insert(0, TESTS_DATA)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


class Probe(Hook):
    """Records each iteration's samples and draws from every RNG (as dropout would), and
    sends itself ``sig`` in the middle of iteration ``signal_at``."""

    priority = 'LOW'

    def __init__(self, signal_at=None, sig=signal.SIGTERM):
        self.signal_at = signal_at
        self.sig = sig
        self.seen = {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        ids = tuple(int(s.sample_idx) for s in data_batch['data_samples'])
        draws = (torch.rand(1).item(), float(np.random.rand()), random.random())
        self.seen[runner.iter] = (ids, draws, batch_idx)
        if runner.iter == self.signal_at:
            os.kill(os.getpid(), self.sig)  # the handler runs right here, mid-iteration


def _toy_runner(work_dir, *, epochs=None, iters=8, resume=False, probe=None,
                accumulate=1, fast_forward=False, preemption=None, flexible=False):
    from mmengine.config import Config
    from mmengine.runner import FlexibleRunner, Runner

    import desa2va_mm  # noqa: F401
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'preempt_{os.getpid()}_{next(_names)}'
    cfg.log_level = 'WARNING'
    cfg.resume = resume
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.default_hooks.visualization = dict(type='ToyVisualizationHook')
    cfg.default_hooks.exact_resume = dict(type='ExactResumeHook', fast_forward=fast_forward)
    cfg.default_hooks.preemption = dict(type='PreemptionCheckpointHook', **(preemption or {}))
    cfg.optim_wrapper.accumulative_counts = accumulate
    if epochs:
        cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=1)
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=True,
                                    begin=0, end=2, convert_to_iter_based=True)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=True, interval=1,
                                            max_keep_ckpts=-1, save_best=None)
    else:
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=100)
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                            interval=100, max_keep_ckpts=-1, save_best=None)
    runner = (FlexibleRunner if flexible else Runner).from_cfg(cfg)
    if probe is not None:
        runner.register_hook(probe)
    return runner


def _hook(runner):
    from desa2va_mm.engine.hooks import PreemptionCheckpointHook
    return next(h for h in runner.hooks if isinstance(h, PreemptionCheckpointHook))


def _load(path):
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    return torch.load(path)  # weights_only=True


def assert_same_training_state(a: dict, b: dict) -> None:
    """Parameters, optimizer state and scheduler state identical (``torch.equal``)."""
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    opt_a, opt_b = a['optimizer']['state'], b['optimizer']['state']
    assert opt_a.keys() == opt_b.keys() and len(opt_a) > 0
    for i in opt_a:
        for k, v in opt_a[i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(opt_b[i][k])), (i, k)
    assert a['param_schedulers'] == b['param_schedulers']


def _final_state(runner, work_dir, name):
    runner.save_checkpoint(str(work_dir), name, by_epoch=False)
    return _load(osp.join(work_dir, name))


# ---- fast: in-process toy runs with real signals ----------------------------------------
@pytest.mark.parametrize('flexible', [False, True], ids=['Runner', 'FlexibleRunner'])
def test_iteration_loop_stops_after_sigterm_and_resumes_bit_exactly(tmp_path, flexible):
    full_probe = Probe()
    full = _toy_runner(tmp_path / 'full', probe=full_probe, flexible=flexible)
    full.train()
    reference = _final_state(full, tmp_path / 'full', 'final.pth')

    cut_probe = Probe(signal_at=4)
    cut = _toy_runner(tmp_path / 'cut', probe=cut_probe, flexible=flexible)
    cut.train()  # returns normally: the loop was told to stop
    hook = _hook(cut)
    assert hook.preempted and cut.iter == 5 and max(cut_probe.seen) == 4
    ckpt_path = str(tmp_path / 'cut' / 'iter_5.pth')
    assert hook.checkpoint_path == ckpt_path
    with open(tmp_path / 'cut' / 'last_checkpoint') as f:
        assert f.read() == ckpt_path  # what `tools/train.py --resume` picks
    ckpt = _load(ckpt_path)
    assert ckpt['meta']['iter'] == 5 and ckpt['meta']['epoch'] == 0
    assert ckpt['meta']['preemption'] == dict(signal='SIGTERM', path=ckpt_path)
    assert 'rng_state' in ckpt  # ExactResumeHook took part
    from desa2va_mm.engine.hooks.preemption_checkpoint_hook import preemption_exit_code
    assert preemption_exit_code(cut) == 0

    resumed_probe = Probe()
    resumed = _toy_runner(tmp_path / 'cut', resume=True, probe=resumed_probe,
                          flexible=flexible)
    resumed.train()
    assert type(resumed).__name__ == ('FlexibleRunner' if flexible else 'Runner')
    assert not _hook(resumed).preempted and resumed.iter == 8
    assert sorted(resumed_probe.seen) == [5, 6, 7]
    for it in range(8):  # same batches, same random streams
        seen = cut_probe.seen.get(it, resumed_probe.seen.get(it))
        assert seen == full_probe.seen[it], it
    assert_same_training_state(reference, _final_state(resumed, tmp_path / 'cut', 'final.pth'))


@pytest.mark.parametrize('fast_forward', [False, True])
def test_epoch_loop_stops_inside_an_epoch_and_resumes_bit_exactly(tmp_path, fast_forward):
    """MMEngine's epoch loop can neither stop nor resume inside an epoch; the hook does
    both: 3 epochs of 8 batches, SIGUSR1 during iteration 9 (epoch 2, batch 1)."""
    full_probe = Probe()
    full = _toy_runner(tmp_path / 'full', epochs=3, probe=full_probe)
    full.train()
    reference = _load(tmp_path / 'full' / 'epoch_3.pth')

    cut_probe = Probe(signal_at=9, sig=signal.SIGUSR1)
    cut = _toy_runner(tmp_path / 'cut', epochs=3, probe=cut_probe)
    cut.train()
    assert _hook(cut).preempted and cut.iter == 10 and cut.epoch == 1
    assert sorted(os.listdir(tmp_path / 'cut')).count('epoch_2.pth') == 0  # not an epoch end
    ckpt = _load(tmp_path / 'cut' / 'iter_10.pth')
    assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == (1, 10)
    assert ckpt['meta']['preemption']['signal'] == 'SIGUSR1'

    resumed_probe = Probe()
    resumed = _toy_runner(tmp_path / 'cut', epochs=3, resume=True, probe=resumed_probe,
                          fast_forward=fast_forward)
    dataset = resumed.train_dataloader.dataset
    loads = []
    getitem = type(dataset).__getitem__
    type(dataset).__getitem__ = lambda self, i: loads.append(i) or getitem(self, i)
    try:
        resumed.train()
    finally:
        type(dataset).__getitem__ = getitem
    assert sorted(resumed_probe.seen) == list(range(10, 24))
    # batch_idx inside the epoch continues too (logging, interval hooks)
    assert resumed_probe.seen[10][2] == 2 == full_probe.seen[10][2]
    for it in range(24):
        seen = cut_probe.seen.get(it, resumed_probe.seen.get(it))
        assert seen == full_probe.seen[it], it
    # 14 batches of 4 trained; the 2 batches of epoch 2 before the checkpoint are loaded
    # again unless fast_forward skips them at the sampler
    assert len(loads) == (14 if fast_forward else 16) * 4
    assert_same_training_state(reference, _load(tmp_path / 'cut' / 'epoch_3.pth'))


def test_gradient_accumulation_window_is_finished_before_saving(tmp_path):
    """Accumulated gradients are not in a checkpoint: with accumulative_counts=2, a signal
    during the 5th iteration (an odd one) saves after the 6th."""
    full = _toy_runner(tmp_path / 'full', accumulate=2)
    full.train()
    cut = _toy_runner(tmp_path / 'cut', accumulate=2, probe=Probe(signal_at=4))
    cut.train()
    assert _hook(cut).preempted and cut.iter == 6
    assert os.listdir(tmp_path / 'cut').count('iter_6.pth') == 1
    resumed = _toy_runner(tmp_path / 'cut', accumulate=2, resume=True)
    resumed.train()
    assert_same_training_state(_final_state(full, tmp_path / 'full', 'final.pth'),
                               _final_state(resumed, tmp_path / 'cut', 'final.pth'))


def test_signal_during_the_last_iteration_finishes_normally(tmp_path):
    runner = _toy_runner(tmp_path, iters=4, probe=Probe(signal_at=3),
                         preemption=dict(exit_code=3))
    runner.train()
    from desa2va_mm.engine.hooks.preemption_checkpoint_hook import preemption_exit_code
    assert runner.iter == 4 and not _hook(runner).preempted
    assert preemption_exit_code(runner) == 0  # the run is complete: no requeue code
    # only CheckpointHook's usual last checkpoint
    assert 'preemption' not in _load(tmp_path / 'iter_4.pth')['meta']


def test_outside_training_a_signal_keeps_its_previous_meaning(tmp_path):
    """Before and after ``train()`` (and in tools/test.py) the handler passes the signal
    on to the handler that was there before."""
    received = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: received.append(signum))
    runner = _toy_runner(tmp_path, iters=2, probe=Probe(),
                         preemption=dict(signals=['SIGUSR2']))
    hook = _hook(runner)
    assert signal.getsignal(signal.SIGUSR2).__name__ == '_on_signal'
    os.kill(os.getpid(), signal.SIGUSR2)  # built, not training
    assert received == [signal.SIGUSR2] and hook.received_signal is None
    runner.train()
    os.kill(os.getpid(), signal.SIGUSR2)  # finished
    assert received == [signal.SIGUSR2] * 2 and not hook.preempted


def test_ranks_agree_on_any_rank_signal(monkeypatch):
    """The stop decision is an all-reduce (max) of the signal numbers: a rank that was not
    signalled stops too, with the same signal in its log."""
    from desa2va_mm.engine.hooks import preemption_checkpoint_hook as module
    hook = module.PreemptionCheckpointHook()
    other_rank = {'signal': 0}

    def all_reduce(tensor, op):
        assert op == 'max' and tensor.dtype == torch.int64
        tensor.copy_(torch.maximum(tensor, torch.tensor([other_rank['signal']])))

    monkeypatch.setattr(module, 'get_world_size', lambda: 2)
    monkeypatch.setattr(module, 'all_reduce', all_reduce)
    assert hook._agree(None) == 0
    other_rank['signal'] = int(signal.SIGUSR1)
    assert hook._agree(None) == signal.SIGUSR1  # only the other rank was signalled
    hook.received_signal = int(signal.SIGTERM)
    assert hook._agree(None) == signal.SIGTERM


def test_arguments_are_checked():
    from desa2va_mm.engine.hooks import PreemptionCheckpointHook
    assert PreemptionCheckpointHook(signals=['USR2', 'SIGINT', 15]).signals == (
        signal.SIGUSR2, signal.SIGINT, signal.SIGTERM)
    with pytest.raises(ValueError, match=r"'SIGKILL' is not a signal that can be caught"):
        PreemptionCheckpointHook(signals=['SIGKILL'])
    with pytest.raises(ValueError, match=r"'SIGFOO'.*'SIGTERM', 'SIGUSR1'"):
        PreemptionCheckpointHook(signals=['SIGFOO'])
    with pytest.raises(ValueError, match=r'exit_code must be an int in \[0, 255\], got 300'):
        PreemptionCheckpointHook(exit_code=300)


def test_on_by_default_and_slurm_script_asks_for_the_warning_signal(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py'))
    assert cfg.default_hooks.preemption == dict(type='PreemptionCheckpointHook')
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'srun').write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    (fake / 'srun').chmod(0o755)
    cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'slurm_train.sh'), 'P', 'J', 'C.py', 'W']
    env = dict(os.environ, PATH=f'{fake}{os.pathsep}{os.environ["PATH"]}')
    args = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=60).stdout.splitlines()
    assert '--signal=USR1@120' in args
    env['PREEMPT_SIGNAL'] = 'USR2@300'
    args = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=60).stdout.splitlines()
    assert '--signal=USR2@300' in args
    env['PREEMPT_SIGNAL'] = ''
    args = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=60).stdout.splitlines()
    assert not [a for a in args if a.startswith('--signal')] and 'python' in args


# ---- slow: real processes, signals from outside ------------------------------------------
_TINY_OVERRIDES = textwrap.dedent('''
    _base_ = [{base!r}]
    data_root = {data_root!r}
    train_dataloader = dict(batch_size=2, num_workers={workers},
                            persistent_workers={persistent},
                            dataset=dict(data_root=data_root))
    val_dataloader = None
    val_evaluator = None
    val_cfg = None
    test_dataloader = None
    test_evaluator = None
    test_cfg = None
    train_cfg = dict(max_iters={max_iters}, val_interval=100000)
    load_from = None
    default_hooks = dict(logger=dict(interval=1),
                         checkpoint=dict(interval=100000, max_keep_ckpts=-1))
    {extra}
''')


def _write_tiny_config(path, data_root, max_iters, workers=1, extra=''):
    text = _TINY_OVERRIDES.format(base=osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py'),
                                  data_root=data_root + '/', workers=workers,
                                  persistent=workers > 0, max_iters=max_iters, extra=extra)
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def _env(**extra):
    env = dict(os.environ)
    env['PYTHONPATH'] = TESTS_DATA
    env.setdefault('OMP_NUM_THREADS', '1')
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(key, None)
    env.update(extra)
    return env


def _wait_for(predicate, proc, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f'the run ended (code {proc.returncode}) before {what}')
        time.sleep(0.05)
    raise AssertionError(f'timed out waiting for {what}')


def _logged_iters(log_path) -> int:
    """The last ``Iter(train) [n/N]`` a run logged (0 if none yet)."""
    if not osp.exists(log_path):
        return 0
    with open(log_path) as f:
        found = re.findall(r'Iter\(train\) \[\s*(\d+)/', f.read())
    return int(found[-1]) if found else 0


def _tool(*args):
    return [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), *map(str, args)]


@pytest.mark.slow
def test_tools_train_sigterm_checkpoint_exit_code_and_bit_exact_resume(tmp_path,
                                                                       synthetic_refcoco):
    """(a) ``python tools/train.py`` receives SIGTERM after it logged 3 iterations: it
    saves the iteration it stopped at, exits with the configured code (3 here; 0 by
    default), and ``--resume`` ends bit-identical to an uninterrupted run."""
    max_iters = 12
    config = _write_tiny_config(tmp_path / 'tiny.py', synthetic_refcoco, max_iters)
    full = subprocess.run(_tool(config, '--work-dir', tmp_path / 'full'), env=_env(),
                          capture_output=True, text=True, timeout=900)
    assert full.returncode == 0, full.stderr[-3000:]

    stdout = open(tmp_path / 'cut.log', 'w')
    proc = subprocess.Popen(
        _tool(config, '--work-dir', tmp_path / 'cut', '--cfg-options',
              'default_hooks.preemption.exit_code=3'),
        env=_env(), stdout=stdout, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: _logged_iters(tmp_path / 'cut.log') >= 3, proc, 600,
                  '3 logged iterations')
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        stdout.close()
    log = open(tmp_path / 'cut.log').read()
    assert code == 3, log[-3000:]
    stopped = re.search(r'PreemptionCheckpointHook: SIGTERM received; saved checkpoint '
                        r'(\S+iter_(\d+)\.pth) after iteration (\d+)', log)
    assert stopped, log[-3000:]
    step = int(stopped.group(2))
    assert 3 <= step < max_iters and int(stopped.group(3)) == step
    assert _logged_iters(tmp_path / 'cut.log') == step  # nothing trained after it
    assert sorted(f for f in os.listdir(tmp_path / 'cut') if f.endswith('.pth')) == \
        [f'iter_{step}.pth']
    with open(tmp_path / 'cut' / 'last_checkpoint') as f:
        assert f.read() == stopped.group(1)

    resumed = subprocess.run(_tool(config, '--work-dir', tmp_path / 'cut', '--resume'),
                             env=_env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_training_state(_load(tmp_path / 'full' / f'iter_{max_iters}.pth'),
                               _load(tmp_path / 'cut' / f'iter_{max_iters}.pth'))


_RANK_PROBE = textwrap.dedent('''
    """Writes each rank's last iteration to work_dir/rank<r>.txt when the run ends."""
    import os
    from mmengine.dist import get_rank
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    @HOOKS.register_module()
    class RankIterationProbe(Hook):
        def after_run(self, runner):
            with open(os.path.join(runner.work_dir, f'rank{get_rank()}.txt'), 'w') as f:
                f.write(f'{os.getpid()} {runner.iter}')

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            path = os.path.join(runner.work_dir, f'pid{get_rank()}.txt')
            if not os.path.exists(path):
                with open(path + '.tmp', 'w') as f:
                    f.write(str(os.getpid()))
                os.replace(path + '.tmp', path)  # never seen half-written
''')


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _children(pid):
    try:
        with open(f'/proc/{pid}/task/{pid}/children') as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _alive(pid) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def _launch(cmd, log_path, env, cwd):
    """Start ``cmd`` in its own session, output to a file (a process that outlived the
    run cannot block the test by holding a pipe open)."""
    log = open(log_path, 'w')
    proc = subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    log.close()
    return proc


@pytest.mark.slow
def test_dist_train_sigusr1_to_one_rank_stops_both_at_the_same_iteration(
        tmp_path, synthetic_refcoco):
    """(b) ``bash tools/dist_train.sh CONFIG 2`` (gloo): SIGUSR1 to rank 1 and to its
    data-loader worker (slurm signals every process of a job step). Both ranks stop
    after the same iteration, one checkpoint is written, torchrun exits 0, no worker
    outlives the run, and ``--resume`` runs to the end."""
    (tmp_path / 'rank_probe.py').write_text(_RANK_PROBE)
    max_iters = 12
    config = _write_tiny_config(
        tmp_path / 'tiny.py', synthetic_refcoco, max_iters, workers=1,
        extra="custom_imports = dict(imports=['rank_probe'], allow_failed_imports=False)\n"
              "custom_hooks = [dict(type='RankIterationProbe')]")
    work = tmp_path / 'work'
    dist_train = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, '2',
                  '--work-dir', str(work)]
    env = _env(PORT=str(_free_port()), PYTHONPATH=f'{tmp_path}{os.pathsep}{TESTS_DATA}')
    proc = _launch(dist_train, tmp_path / 'dist.log', env, tmp_path)
    try:
        _wait_for(lambda: _logged_iters(tmp_path / 'dist.log') >= 3
                  and all(osp.exists(work / f'pid{r}.txt') for r in (0, 1)), proc, 900,
                  '3 logged iterations')
        ranks = [int(open(work / f'pid{r}.txt').read()) for r in (0, 1)]
        workers = [_children(pid) for pid in ranks]
        assert all(workers), 'each rank should have a data-loader worker'
        for pid in [ranks[1]] + workers[1]:
            os.kill(pid, signal.SIGUSR1)
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its ranks
    log = open(tmp_path / 'dist.log').read()
    assert code == 0, log[-4000:]
    stopped = re.search(r'SIGUSR1 received; saved checkpoint \S+iter_(\d+)\.pth', log)
    assert stopped, log[-4000:]
    step = int(stopped.group(1))
    assert step < max_iters
    finals = [open(work / f'rank{r}.txt').read().split() for r in (0, 1)]
    assert [int(it) for _, it in finals] == [step, step]  # same iteration on both ranks
    assert [int(pid) for pid, _ in finals] == ranks
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [f'iter_{step}.pth']
    assert 'Traceback' not in log and 'killed by signal' not in log  # the worker survived
    time.sleep(2)
    assert not [pid for group in workers for pid in group if _alive(pid)], \
        'data-loader workers outlived the run'

    env['PORT'] = str(_free_port())
    resumed = _launch(dist_train + ['--resume'], tmp_path / 'resume.log', env, tmp_path)
    try:
        code = resumed.wait(timeout=900)
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    assert code == 0, open(tmp_path / 'resume.log').read()[-4000:]
    assert [open(work / f'rank{r}.txt').read().split()[1] for r in (0, 1)] == \
        [str(max_iters)] * 2
    assert osp.isfile(work / f'iter_{max_iters}.pth')
