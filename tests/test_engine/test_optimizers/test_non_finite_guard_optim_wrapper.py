"""NonFiniteGuardOptimWrapper: NaN / Inf steps are skipped (no parameter or optimizer-state
change), logged with the bad loss terms, counted, and stop training after N in a row; under
a process group every rank skips the same step."""
import copy
import importlib.util
import logging
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import nn

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
GUARD_PY = osp.join(REPO_ROOT, 'desa2va_mm', 'engine', 'optimizers', 'non_finite_guard.py')


def _guard_module():
    """The mixin without importing the whole package (the DDP subprocess does the same)."""
    spec = importlib.util.spec_from_file_location('_non_finite_guard', GUARD_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guard = _guard_module()


class GuardedWrapper(guard.NonFiniteGuardMixin, OptimWrapper):
    def __init__(self, optimizer, max_consecutive_bad_steps=5, check_grads=True, **kw):
        super().__init__(optimizer=optimizer, **kw)
        self._init_guard(max_consecutive_bad_steps, check_grads)


class TwoTermModel(BaseModel):
    """loss_a = mean(w x)^2, loss_b = mean(v x)^2; ``poison`` puts NaN/Inf in a term."""

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(3, 1)
        self.v = nn.Linear(3, 1)
        self.poison = {}

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = inputs
        losses = dict(loss_a=self.w(x).pow(2).mean(), loss_b=self.v(x).pow(2).mean())
        for name, value in self.poison.items():
            losses[name] = losses[name] * value
        return losses


def _state(model, wrapper):
    return (copy.deepcopy(model.state_dict()), copy.deepcopy(wrapper.optimizer.state_dict()))


def _assert_same(a, b):
    (pa, oa), (pb, ob) = a, b
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    assert oa['state'].keys() == ob['state'].keys()
    for i in oa['state']:
        for k, v in oa['state'][i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(ob['state'][i][k])), (i, k)


@pytest.fixture
def setup():
    torch.manual_seed(0)
    model = TwoTermModel()
    wrapper = GuardedWrapper(torch.optim.AdamW(model.parameters(), lr=0.1),
                             max_consecutive_bad_steps=3, clip_grad=dict(max_norm=1.0))
    MessageHub.get_instance('non_finite_guard_test')
    logger = MMLogger.get_instance('non_finite_guard_test')
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    yield model, wrapper, records
    logger.removeHandler(handler)


def _step(model, wrapper, it):
    MessageHub.get_current_instance().update_info('iter', it)
    return model.train_step(dict(inputs=torch.ones(4, 3)), optim_wrapper=wrapper)


def test_nan_loss_term_skips_step_and_names_it(setup):
    model, wrapper, records = setup
    _step(model, wrapper, 0)  # Adam state exists from here on
    before = _state(model, wrapper)
    model.poison = dict(loss_b=float('nan'))
    log_vars = _step(model, wrapper, 1)
    assert torch.isnan(log_vars['loss_b'])
    _assert_same(before, _state(model, wrapper))  # parameters and Adam moments / step
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    assert wrapper.skipped_steps == 1 and wrapper.consecutive_bad_steps == 1
    msg = [r for r in records if 'NonFiniteGuard' in r]
    assert len(msg) == 1
    assert 'iteration 2' in msg[0] and 'loss_b=nan' in msg[0] and 'loss_a' not in msg[0]
    assert '1/3 consecutive' in msg[0]
    # a good step afterwards updates as usual and resets the streak
    model.poison = {}
    _step(model, wrapper, 2)
    after = _state(model, wrapper)
    assert not torch.equal(after[0]['w.weight'], before[0]['w.weight'])
    assert after[1]['state'][0]['step'] == before[1]['state'][0]['step'] + 1
    assert wrapper.consecutive_bad_steps == 0 and wrapper.skipped_steps == 1


def test_inf_gradient_with_finite_loss_names_the_parameter(setup):
    model, wrapper, records = setup
    _step(model, wrapper, 0)
    before = _state(model, wrapper)
    handle = model.v.weight.register_hook(lambda g: g * float('inf'))
    _step(model, wrapper, 1)
    handle.remove()
    _assert_same(before, _state(model, wrapper))
    msg = [r for r in records if 'NonFiniteGuard' in r][-1]
    assert 'non-finite gradients in 1 parameters: v.weight' in msg


def test_consecutive_bad_steps_stop_training(setup):
    model, wrapper, _ = setup
    model.poison = dict(loss_a=float('inf'))
    _step(model, wrapper, 0)
    _step(model, wrapper, 1)
    model.poison = {}
    _step(model, wrapper, 2)  # resets the streak
    model.poison = dict(loss_a=float('inf'))
    _step(model, wrapper, 3)
    _step(model, wrapper, 4)
    with pytest.raises(guard.NonFiniteStepsError, match=r'loss_a=inf.*3/3 consecutive'):
        _step(model, wrapper, 5)
    assert wrapper.skipped_steps == 5


def test_accumulation_window_with_one_bad_micro_batch_is_skipped(setup):
    model, _, _ = setup
    wrapper = GuardedWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                             accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 4)
    before = _state(model, wrapper)
    model.poison = dict(loss_b=float('nan'))
    _step(model, wrapper, 0)  # first micro-batch bad, no step yet
    model.poison = {}
    _step(model, wrapper, 1)  # second fine, but the window had a NaN
    _assert_same(before, _state(model, wrapper))
    assert wrapper.skipped_steps == 1
    _step(model, wrapper, 2)
    _step(model, wrapper, 3)
    assert not torch.equal(model.w.weight, before[0]['w.weight'])


def test_invalid_max_consecutive():
    model = TwoTermModel()
    with pytest.raises(ValueError, match='max_consecutive_bad_steps'):
        GuardedWrapper(torch.optim.SGD(model.parameters(), lr=0.1),
                       max_consecutive_bad_steps=0)


def test_registered_and_in_default_schedule():
    from mmengine.config import Config

    import desa2va_mm  # noqa: F401
    from desa2va_mm.engine.optimizers import NonFiniteGuardOptimWrapper
    from desa2va_mm.registry import OPTIM_WRAPPERS
    assert OPTIM_WRAPPERS.get('NonFiniteGuardOptimWrapper') is NonFiniteGuardOptimWrapper
    assert issubclass(NonFiniteGuardOptimWrapper, OptimWrapper)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py'))
    assert cfg.optim_wrapper.type == 'NonFiniteGuardOptimWrapper'
    model = TwoTermModel()
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='NonFiniteGuardOptimWrapper', max_consecutive_bad_steps=2,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    assert wrapper.max_consecutive_bad_steps == 2 and wrapper.check_grads


_DIST_SCRIPT = textwrap.dedent('''
    import copy, importlib.util, os, sys
    import torch
    import torch.distributed as dist
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper
    from torch import nn

    spec = importlib.util.spec_from_file_location('g', sys.argv[1])
    g = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(g)
    rank = int(sys.argv[3])
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{sys.argv[2]}',
                            rank=rank, world_size=2)

    class W(g.NonFiniteGuardMixin, OptimWrapper):
        def __init__(self, optimizer):
            super().__init__(optimizer=optimizer)
            self._init_guard(5, True)

    MessageHub.get_instance('dist_guard').update_info('iter', 0)
    for use_ddp in (False, True):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        net = torch.nn.parallel.DistributedDataParallel(model) if use_ddp else model
        wrapper = W(torch.optim.AdamW(model.parameters(), lr=0.1))
        x = torch.ones(4, 3) * (rank + 1)
        for step in range(3):
            before = copy.deepcopy(model.state_dict())
            loss = net(x).pow(2).mean()
            if step == 1 and rank == 1:
                loss = loss * float('nan')  # only rank 1 diverges
            wrapper.update_params(loss)
            changed = not torch.equal(before['weight'], model.weight)
            print(f'RESULT ddp={use_ddp} step={step} rank={rank} changed={changed} '
                  f'skipped={wrapper.skipped_steps}', flush=True)
        # replicas stay identical under DDP
        if use_ddp:
            w = model.weight.detach().clone()
            dist.all_reduce(w)
            assert torch.allclose(w / 2, model.weight)
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)
''')


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_every_rank_skips_the_same_step(tmp_path):
    """2 gloo processes; a NaN loss on rank 1 only. Without DDP (local gradients, as with
    sharded optimizers) rank 0's gradients are finite: only the all-reduced flag makes
    it skip too. With DDP the same holds and nothing deadlocks."""
    script = tmp_path / 'dist_guard.py'
    script.write_text(_DIST_SCRIPT)
    port = str(_free_port())
    env = dict(os.environ, OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, str(script), GUARD_PY, port, str(r)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for r in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    lines = [ln for out, _ in outs for ln in out.splitlines() if ln.startswith('RESULT')]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    assert len(lines) == 12, lines
    for ln in lines:
        step = int(ln.split('step=')[1].split()[0])
        if step == 1:
            assert 'changed=False skipped=1' in ln, ln
        else:
            assert 'changed=True' in ln, ln
