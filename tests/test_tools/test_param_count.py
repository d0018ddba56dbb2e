"""param_count.py: meta-device builds, hand-checked component counts, published sizes."""
import os.path as osp
import time

import pytest

from conftest import REPO_ROOT


def _cfg(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


def test_tiny_counts_match_a_hand_count():
    from tools.analysis_tools.param_count import build_on_meta, count_parameters
    cfg = _cfg('sa2va/sa2va_tiny.py')
    model = build_on_meta(cfg)
    assert next(model.parameters()).is_meta
    counts = count_parameters(model)
    h, vocab, c = 128, len(model.mllm.tokenizer), 64
    # Untied LM head: H x V; Sa2VA projection: Linear(H, H) + Linear(H, C).
    assert counts['mllm.lm_head'] == (h * vocab, h * vocab)
    assert counts['seg_head.text_hidden_fcs'] == (h * h + h + h * c + c,) * 2
    # Tiny ViT: hidden 64, MLP 128, 2 layers, 112 px / patch 14 -> 64 patches + CLS.
    d, mlp, layers, patches = 64, 128, 2, (112 // 14) ** 2
    # attention_bias=False (config default): q/k/v without bias, projection with.
    per_layer = 4 * d * d + d + (d * mlp + mlp) + (mlp * d + d) + 2 * 2 * d + 2 * d
    embeddings = 3 * 14 * 14 * d + d + d + (patches + 1) * d
    assert counts['mllm.vision_tower'][0] == embeddings + layers * per_layer
    # Projector: LayerNorm(4d) + Linear(4d, H) + Linear(H, H).
    assert counts['mllm.projector'][0] == 2 * 4 * d + (4 * d * h + h) + (h * h + h)
    # Qwen2 LM: embeddings + 2 layers (q/k/v with bias, o, gate/up/down, 2 RMSNorm) + norm.
    kv = 2 * (h // 4)
    layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * 256 + 2 * h
    assert counts['mllm.language_model'][0] == vocab * h + 2 * layer + h


@pytest.mark.parametrize('config,internvl,sam2', [
    ('desa2va/desa2va_1b_decouple.py', 938e6, 224.4e6),
    ('sa2va/sa2va_4b.py', 3.71e9, 224.4e6),
])
def test_real_configs_build_on_meta_and_match_published_sizes(config, internvl, sam2):
    from tools.analysis_tools.param_count import build_on_meta, published_reference, summarise
    start = time.perf_counter()
    model = build_on_meta(_cfg(config))
    assert time.perf_counter() - start < 60
    s = summarise(model)
    assert abs(s['internvl'] / internvl - 1) < 0.01, s
    assert abs(s['sam2'] / sam2 - 1) < 0.01, s
    (_, ref_internvl), (_, ref_sam2) = published_reference(model)
    assert (ref_internvl, ref_sam2) == (internvl, sam2)
    # LoRA r=128 on the LLM only: every adapter belongs to the language model.
    lora = [n for n, _ in model.named_parameters() if 'lora_' in n]
    assert lora and all('.language_model.' in n for n in lora)
    assert not any(n.endswith('lm_head.lora_A.default.weight') for n in lora)
