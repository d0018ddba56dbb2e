"""tools/analysis_tools/benchmark_vs_sa2va.py: Sa2VA's own predict_forward vs our inferencer.

The comparison needs Sa2VA's code (``SA2VA_ROOT``: a Sa2VA checkout or clone) and is
skipped without it; the tool then skips cleanly too.
"""
import os

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT


def test_help(capsys):
    from tools.analysis_tools.benchmark_vs_sa2va import parse_args
    with pytest.raises(SystemExit) as exc:
        parse_args(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ('--sa2va-root', '--config', '--size', '--images', '--sentences', '--repeats',
                 '--answer', '--answer-tokens', '--seed', '--work-dir', '--require'):
        assert flag in out


def test_rejects_bad_arguments(capsys):
    from tools.analysis_tools.benchmark_vs_sa2va import parse_args
    with pytest.raises(SystemExit):
        parse_args(['--answer-tokens', '3'])
    assert '--answer-tokens must be >= 4 with --answer sure' in capsys.readouterr().err
    assert parse_args(['--answer', 'all-seg', '--answer-tokens', '2']).answer_tokens == 2
    with pytest.raises(SystemExit):
        parse_args(['--sentences', '0'])
    assert '--sentences must be in 1..10' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(['--image-size', '640', '8'])
    assert '--image-size >= 16 16' in capsys.readouterr().err
    assert parse_args(['--image-size', '640', '480']).image_size == [640, 480]


def test_synthetic_images_take_the_asked_size_and_are_rgb():
    from desa2va_mm.synthetic import generate_image
    from tools.analysis_tools.benchmark_vs_sa2va import synthetic_rgb
    rgb = synthetic_rgb(0, 1, 640, 480)
    assert rgb.shape == (480, 640, 3) and rgb.dtype.name == 'uint8'
    square = synthetic_rgb(0, 1, 96, 96)
    assert (square == generate_image(0, 1, 96).image[..., ::-1]).all()  # BGR -> RGB


def test_skips_cleanly_without_sa2va_code(tmp_path, capsys):
    from tools.analysis_tools.benchmark_vs_sa2va import main
    assert main(['--sa2va-root', str(tmp_path)]) == 0
    assert "skipped, Sa2VA's code is absent" in capsys.readouterr().out
    assert main(['--sa2va-root', str(tmp_path / 'nowhere'), '--require']) == 2


def test_scripted_answer_head_follows_its_script_and_restarts():
    from tools.analysis_tools.benchmark_inference import ScriptedAnswerHead, _reset_before
    head = ScriptedAnswerHead(8, 11, [5, 2])
    hidden = torch.randn(3, 1, 8)
    picks = [head(hidden).argmax(-1) for _ in range(4)]
    assert picks[0].shape == (3, 1)
    assert [int(p[0, 0]) for p in picks] == [5, 2, 2, 2]
    assert bool((picks[0] == 5).all())  # every sequence of the batch gets the step's token
    calls = []
    generate = _reset_before(lambda *a, **k: calls.append(head.calls) or 'out', head)
    assert generate() == 'out' and calls == [0]
    assert int(head(hidden[:, 0]).argmax(-1)[0]) == 5


def test_forced_answer_is_sa2va_sure_seg_then_eos():
    from desa2va_mm.models.mllm import InternVLMLLM
    from tools.analysis_tools.benchmark_inference import force_answers
    mllm = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=dict(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, image_size=56, patch_size=14),
        text_config=dict(model_type='qwen2', hidden_size=64, intermediate_size=128,
                         num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256), downsample_ratio=0.5)).eval()
    tok = mllm.tokenizer
    force_answers(mllm, mllm.model, tok, mllm.seg_token_id, 'sure')
    ids = torch.tensor([tok.encode('<|im_start|> user please segment the star <|im_end|> '
                                   '<|im_start|> assistant', add_special_tokens=False)])
    for share in (True, False):  # the script restarts at every call, on both paths
        mllm.share_prompt_prefix = share
        for _ in range(2):
            answers, states = mllm.generate(ids, torch.ones_like(ids), max_new_tokens=8)
            assert tok.decode(answers[0]) == 'sure , [SEG] .'
            assert states[0].shape == (1, 64)
    with pytest.raises(ValueError, match='answer must be one of'):
        force_answers(mllm, mllm.model, tok, mllm.seg_token_id, 'maybe')


def test_compare_masks_counts_pixels_and_iou():
    from tools.analysis_tools.benchmark_vs_sa2va import compare_masks, same_answers
    theirs = np.zeros((2, 4, 4), dtype=bool)
    theirs[0, :2] = True  # 8 px
    ours = theirs.copy()
    ours[0, 2, 0] = True  # one more pixel: IoU 8 / 9
    out = compare_masks(ours, theirs)
    assert out['diff_pixels'] == 1 and out['pixels'] == 32 and out['foreground'] == 8
    assert out['min_iou'] == pytest.approx(8 / 9)  # the empty pair counts as IoU 1
    assert compare_masks(theirs, theirs)['min_iou'] == 1.0
    with pytest.raises(ValueError, match='mask shapes differ'):
        compare_masks(ours[:1], theirs)
    assert same_answers(['[SEG]'], ['[SEG] <|im_end|>'], '<|im_end|>')
    assert not same_answers(['[SEG] [SEG]'], ['[SEG] <|im_end|>'], '<|im_end|>')


@pytest.mark.slow
def test_sa2va_predict_forward_and_our_inferencer_give_identical_masks(tmp_path):
    from tools.analysis_tools.benchmark_vs_sa2va import build_sides, run_benchmark
    from tools.analysis_tools.sa2va_parity_check import (import_sa2va_modeling,
                                                         resolve_sa2va_models_dir)
    models_dir = resolve_sa2va_models_dir(os.environ.get('SA2VA_ROOT'))
    if models_dir is None:
        pytest.skip("Sa2VA's code is absent: set SA2VA_ROOT to a Sa2VA checkout or clone")
    from desa2va_mm.synthetic import generate_image
    modeling = import_sa2va_modeling(models_dir)
    sa2va, inferencer = build_sides(modeling, os.path.join(REPO_ROOT,
                                                           'configs/sa2va/sa2va_tiny.py'),
                                    size='tiny', work_dir=str(tmp_path))
    image = generate_image(0, 0, 128).image[..., ::-1].copy()
    (row, ) = run_benchmark(sa2va, inferencer, [image], [3], repeats=0, modeling=modeling,
                            log=lambda *a, **k: None)
    assert row['sentences_total'] == 3 and row['pixels'] == 3 * 128 * 128
    assert row['diff_pixels'] == 0 and row['min_iou'] == 1.0
    assert 0 < row['foreground'] < row['pixels']  # real masks, neither empty nor full
    assert row['same_answers'] and row['answer'] == 'sure , [SEG] . <|im_end|>'
    assert 'ratio' not in row  # repeats=0: masks only, nothing timed


def test_stage_timer_times_each_stage_and_puts_instance_methods_back():
    from types import SimpleNamespace

    from tools.analysis_tools.benchmark_inference import stage_timer

    class Part:
        def encode_images(self):
            return 'vit'

        def generate(self):
            return 'class generate'

        def encode_image(self):
            return 'sam'

        def decode(self):
            return 'dec'

    mllm, sam, head = Part(), Part(), Part()
    mllm.generate = lambda: 'forced generate'  # as force_answers leaves it
    model = SimpleNamespace(mllm=mllm, grounding_encoder=sam, seg_head=head)
    totals = {}
    with stage_timer(model, totals):
        assert mllm.generate() == 'forced generate'  # the timed call runs the override
        assert (mllm.encode_images(), sam.encode_image(), head.decode()) == ('vit', 'sam',
                                                                              'dec')
        head.decode()
    assert sorted(totals) == ['LLM generate', 'SAM-2 dec', 'SAM-2 enc', 'ViT']
    assert all(t >= 0 for t in totals.values())
    assert mllm.generate() == 'forced generate'  # the override survives the timer
    assert 'decode' not in vars(head) and 'encode_images' not in vars(mllm)
