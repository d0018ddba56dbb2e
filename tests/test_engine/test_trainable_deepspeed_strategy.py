"""TrainableDeepSpeedStrategy: frozen pretrained weights left out, phase-1 heads kept."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytest.importorskip('deepspeed')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize('stage', [2, 3])
def test_checkpoint_keeps_trained_frozen_heads_and_drops_pretrained(stage, tmp_path):
    env = dict(os.environ, MASTER_PORT=str(_free_port()), OMP_NUM_THREADS='1',
               PYTHONPATH=REPO_ROOT)
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tests', 'test_engine', 'deepspeed_roundtrip.py'),
         str(tmp_path), str(stage)],
        env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[0][len('RESULT '):])
    assert result['micro_batch'] == 2  # the dataloader's batch, not the config's 5
    # DeepSpeed's module state: only the trainable head; the frozen phase-1 head rides in
    # the client state; the frozen MLLM / SAM-2 weights are nowhere.
    assert result['kept_keys'] == ['text_decoder.bias', 'text_decoder.weight']
    assert not any(k.startswith(('mllm.', 'grounding_encoder.', 'text_decoder.'))
                   for k in result['module_keys'])
    assert 'visual_decoder.weight' in result['module_keys']
    for key in ('text_decoder.weight', 'text_decoder.bias', 'visual_decoder.weight'):
        assert result['restored'][key] and result['changed'][key], key
        assert result['resumed'][key], key
    # A plain `.pth` loads (mllm absent from it keeps its built values), and a zero-lr
    # step after it keeps the loaded values: DeepSpeed's fp32 masters were refreshed.
    assert result['plain_loaded'] == {
        'mllm.weight': False, 'mllm.bias': False, 'grounding_encoder.weight': True,
        'grounding_encoder.bias': True, 'text_decoder.weight': True,
        'text_decoder.bias': True, 'visual_decoder.weight': True, 'visual_decoder.bias': True}
    # Pretrained weights keep the values the new run built (they come from `pretrained`).
    for key in ('mllm.weight', 'grounding_encoder.weight'):
        assert not result['changed'][key], key


def test_refuses_to_keep_every_frozen_parameter(monkeypatch):
    import mmengine._strategy.deepspeed as ds_strategy

    from desa2va_mm.registry import STRATEGIES
    monkeypatch.setattr(ds_strategy, 'register_deepspeed_optimizers', lambda: None)
    with pytest.raises(ValueError, match='exists to leave frozen pretrained'):
        STRATEGIES.build(dict(type='TrainableDeepSpeedStrategy',
                              exclude_frozen_parameters=False))


def test_checkpoint_with_misfit_kept_weights_names_the_key():
    from desa2va_mm.engine.strategies import KEPT_FROZEN_KEY, TrainableDeepSpeedStrategy
    from desa2va_mm.utils.state_dict_check import StateDictMismatchError
    import torch

    strategy = TrainableDeepSpeedStrategy.__new__(TrainableDeepSpeedStrategy)
    module = torch.nn.Linear(4, 3)
    strategy._module = lambda: module
    bad = {KEPT_FROZEN_KEY: {'weight': torch.zeros(2, 4)}}
    with pytest.raises(StateDictMismatchError, match=r'weight: checkpoint \(2, 4\) vs model \(3, 4\)'):
        strategy._restore_kept(bad, 'work_dirs/x/iter_1.pth')
    good = {KEPT_FROZEN_KEY: {'weight': torch.ones(3, 4)}, 'meta': {}}
    assert strategy._restore_kept(good, 'iter_1.pth') == {'meta': {}}
    assert torch.equal(module.weight, torch.ones(3, 4))
