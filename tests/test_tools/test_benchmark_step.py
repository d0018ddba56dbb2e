"""benchmark_step.py: the real training set-up at ``base``, the interleaving, the memory pass."""
import argparse

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT


def test_base_trains_what_the_real_configs_train():
    from tools.analysis_tools.benchmark_step import _configs, real_training_settings
    real = Config.fromfile(f'{REPO_ROOT}/configs/_base_/models/sa2va_1b.py').model
    settings = real_training_settings()
    assert settings['mllm']['freeze_llm'] is True and settings['mllm']['freeze_vision'] is True
    assert settings['grounding_encoder']['freeze_image_encoder'] is True
    args = argparse.Namespace(size='base', mask_loss='config', data_root='data/nowhere')
    for name, cfg in _configs(args).items():
        mllm, sam = cfg.model.mllm, cfg.model.grounding_encoder
        assert mllm.lora.to_dict() == real.mllm.lora.to_dict(), name
        assert mllm.gradient_checkpointing == real.mllm.gradient_checkpointing
        assert (mllm.freeze_vision, mllm.freeze_llm, mllm.train_embeddings) == (
            real.mllm.freeze_vision, real.mllm.freeze_llm, real.mllm.train_embeddings)
        assert mllm.model_config.text_config.num_hidden_layers == \
            real.mllm.model_config.text_config.num_hidden_layers == 24
        assert mllm.model_config.text_config.hidden_size == 896  # Qwen2.5-0.5B's width
        assert sam.freeze_image_encoder and sam.freeze_memory and sam.freeze_prompt_encoder
    # The smaller sizes keep the tiny configs' training set-up.
    small = _configs(argparse.Namespace(size='small', mask_loss='config',
                                        data_root='data/nowhere'))
    assert small['Sa2VA'].model.mllm.lora is None


def test_interleaving_rotates_the_order_and_takes_medians(capsys):
    from tools.analysis_tools.benchmark_step import _interleaved
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in 'abc'}
    figures = iter([5, 1, 9,  # iteration 1: a b c
                    2, 7, 3,  # iteration 2: b c a
                    8, 6, 4])  # iteration 3: c a b
    medians = _interleaved(fns, 3, lambda fn: (fn(), next(figures))[1])
    assert calls == list('abc') + list('abc') + list('bca') + list('cab')  # warm-up first
    # a: 5, 3, 6; b: 1, 2, 4; c: 9, 7, 8.
    assert medians == dict(a=5, b=2, c=8)
    assert 'iteration 3/3 done' in capsys.readouterr().out


@pytest.mark.slow
def test_cli_times_in_this_process_and_measures_memory_in_a_child(tmp_path):
    """The whole script at the tiny size: a fresh data root is generated, the memory pass
    runs in a child (its progress shown), the table and the goal line are printed."""
    import subprocess
    import sys
    out = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tools/analysis_tools/benchmark_step.py', '--size', 'tiny',
         '--iters', '1', '--memory-iters', '1', '--batch-size', '2',
         '--data-root', str(tmp_path / 'none')],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert 'has no synthetic RefCOCO' in text and text.count('generating') == 1
    assert 'memory: 1 interleaved training steps per model' in text  # the child's progress
    assert 'PEAK_MIB' not in text
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.split() and line.split()[0] in ('Sa2VA', 'DeSa2VA-p2', 'DeSa2VA-p3')}
    assert set(rows) == {'Sa2VA', 'DeSa2VA-p2', 'DeSa2VA-p3'}
    for name, row in rows.items():
        params, step, peak, infer = map(float, row[1:5])
        assert params > 0 and step > 0 and peak > 0 and infer > 0, name
    assert 'goal: DeSa2VA / Sa2VA train step <= 1.05x: worst' in text
