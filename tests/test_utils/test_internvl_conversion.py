"""Original InternVL layout -> native transformers InternVL: keys, shapes and forward.

The "unconverted model" is a direct re-implementation of the original remote-code forward
(InternViT with fused ``qkv`` and layer scale, InternVL's pixel shuffle + ``mlp1``, and
InternLM2 with its per-KV-group fused ``wqkv``), running on a state dict with the
original key names. After ``tools/model_converters/internvl_to_hf.py`` the native model
must give the same vision features and LLM logits (<= 1e-5).
"""
import json
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from desa2va_mm.utils.internvl_conversion import split_internlm2_wqkv

V_HIDDEN, V_HEADS, V_LAYERS, V_MLP, IMAGE, PATCH = 32, 2, 2, 64, 56, 14
T_HIDDEN, T_HEADS, T_KV, T_LAYERS, T_MLP = 64, 4, 2, 2, 96
EPS_RMS = 1e-5


def original_state(vocab: int, internlm2: bool, seed: int = 0):
    """Random weights under the original InternVL names (tiny dims)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    n_patches = (IMAGE // PATCH) ** 2
    s = {
        'vision_model.embeddings.class_embedding': r(1, 1, V_HIDDEN),
        'vision_model.embeddings.position_embedding': r(1, n_patches + 1, V_HIDDEN),
        'vision_model.embeddings.patch_embedding.weight': r(V_HIDDEN, 3, PATCH, PATCH),
        'vision_model.embeddings.patch_embedding.bias': r(V_HIDDEN),
    }
    for i in range(V_LAYERS):
        p = f'vision_model.encoder.layers.{i}.'
        s.update({
            p + 'attn.qkv.weight': r(3 * V_HIDDEN, V_HIDDEN), p + 'attn.qkv.bias': r(3 * V_HIDDEN),
            p + 'attn.proj.weight': r(V_HIDDEN, V_HIDDEN), p + 'attn.proj.bias': r(V_HIDDEN),
            p + 'mlp.fc1.weight': r(V_MLP, V_HIDDEN), p + 'mlp.fc1.bias': r(V_MLP),
            p + 'mlp.fc2.weight': r(V_HIDDEN, V_MLP), p + 'mlp.fc2.bias': r(V_HIDDEN),
            p + 'norm1.weight': 1 + r(V_HIDDEN), p + 'norm1.bias': r(V_HIDDEN),
            p + 'norm2.weight': 1 + r(V_HIDDEN), p + 'norm2.bias': r(V_HIDDEN),
            p + 'ls1': 1 + r(V_HIDDEN), p + 'ls2': 1 + r(V_HIDDEN),
        })
    proj_in = V_HIDDEN * 4
    s.update({'mlp1.0.weight': 1 + r(proj_in), 'mlp1.0.bias': r(proj_in),
              'mlp1.1.weight': r(T_HIDDEN, proj_in), 'mlp1.1.bias': r(T_HIDDEN),
              'mlp1.3.weight': r(T_HIDDEN, T_HIDDEN), 'mlp1.3.bias': r(T_HIDDEN)})
    head_dim = T_HIDDEN // T_HEADS
    if internlm2:
        s['language_model.model.tok_embeddings.weight'] = r(vocab, T_HIDDEN, scale=1.0)
        s['language_model.output.weight'] = r(vocab, T_HIDDEN)
        s['language_model.model.norm.weight'] = 1 + r(T_HIDDEN)
        for i in range(T_LAYERS):
            p = f'language_model.model.layers.{i}.'
            s.update({
                p + 'attention.wqkv.weight': r((T_HEADS + 2 * T_KV) * head_dim, T_HIDDEN),
                p + 'attention.wo.weight': r(T_HIDDEN, T_HIDDEN),
                p + 'feed_forward.w1.weight': r(T_MLP, T_HIDDEN),
                p + 'feed_forward.w3.weight': r(T_MLP, T_HIDDEN),
                p + 'feed_forward.w2.weight': r(T_HIDDEN, T_MLP),
                p + 'attention_norm.weight': 1 + r(T_HIDDEN),
                p + 'ffn_norm.weight': 1 + r(T_HIDDEN),
            })
    else:
        s['language_model.model.embed_tokens.weight'] = r(vocab, T_HIDDEN, scale=1.0)
        s['language_model.lm_head.weight'] = r(vocab, T_HIDDEN)
        s['language_model.model.norm.weight'] = 1 + r(T_HIDDEN)
        for i in range(T_LAYERS):
            p = f'language_model.model.layers.{i}.'
            for name, shape in (('q_proj', (T_HEADS * head_dim, T_HIDDEN)),
                                ('k_proj', (T_KV * head_dim, T_HIDDEN)),
                                ('v_proj', (T_KV * head_dim, T_HIDDEN))):
                s[p + f'self_attn.{name}.weight'] = r(*shape)
                s[p + f'self_attn.{name}.bias'] = r(shape[0])
            s.update({
                p + 'self_attn.o_proj.weight': r(T_HIDDEN, T_HIDDEN),
                p + 'mlp.gate_proj.weight': r(T_MLP, T_HIDDEN),
                p + 'mlp.up_proj.weight': r(T_MLP, T_HIDDEN),
                p + 'mlp.down_proj.weight': r(T_HIDDEN, T_MLP),
                p + 'input_layernorm.weight': 1 + r(T_HIDDEN),
                p + 'post_attention_layernorm.weight': 1 + r(T_HIDDEN),
            })
    return s


def original_config(vocab: int, internlm2: bool) -> dict:
    llm = dict(architectures=['InternLM2ForCausalLM' if internlm2 else 'Qwen2ForCausalLM'],
               hidden_size=T_HIDDEN, intermediate_size=T_MLP, num_hidden_layers=T_LAYERS,
               num_attention_heads=T_HEADS, num_key_value_heads=T_KV, vocab_size=vocab,
               rms_norm_eps=EPS_RMS, rope_theta=10000.0, max_position_embeddings=256,
               tie_word_embeddings=False, hidden_act='silu')
    if internlm2:
        llm['bias'] = False
    vision = dict(hidden_size=V_HIDDEN, intermediate_size=V_MLP, num_hidden_layers=V_LAYERS,
                  num_attention_heads=V_HEADS, image_size=IMAGE, patch_size=PATCH,
                  qkv_bias=True, qk_normalization=False, norm_type='layer_norm',
                  layer_norm_eps=1e-6, initializer_factor=0.1, hidden_act='gelu')
    return dict(llm_config=llm, vision_config=vision, downsample_ratio=0.5, select_layer=-1,
                ps_version='v2', template='internvl2_5')


# ---------------------------------------------------------------- reference (original) forward
def ref_vision_features(s: dict, pixel_values: torch.Tensor) -> torch.Tensor:
    """InternVLChatModel.extract_feature: InternViT -> pixel shuffle (v2) -> mlp1."""
    x = F.conv2d(pixel_values, s['vision_model.embeddings.patch_embedding.weight'],
                 s['vision_model.embeddings.patch_embedding.bias'], stride=PATCH)
    b = x.shape[0]
    x = x.flatten(2).transpose(1, 2)
    cls = s['vision_model.embeddings.class_embedding'].expand(b, -1, -1)
    x = torch.cat([cls, x], 1) + s['vision_model.embeddings.position_embedding']
    hd = V_HIDDEN // V_HEADS
    for i in range(V_LAYERS):
        p = f'vision_model.encoder.layers.{i}.'
        h = F.layer_norm(x, (V_HIDDEN,), s[p + 'norm1.weight'], s[p + 'norm1.bias'], 1e-6)
        qkv = F.linear(h, s[p + 'attn.qkv.weight'], s[p + 'attn.qkv.bias'])
        qkv = qkv.reshape(b, -1, 3, V_HEADS, hd).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        attn = attn.transpose(1, 2).reshape(b, -1, V_HIDDEN)
        attn = F.linear(attn, s[p + 'attn.proj.weight'], s[p + 'attn.proj.bias'])
        x = x + s[p + 'ls1'] * attn
        h = F.layer_norm(x, (V_HIDDEN,), s[p + 'norm2.weight'], s[p + 'norm2.bias'], 1e-6)
        h = F.linear(F.gelu(F.linear(h, s[p + 'mlp.fc1.weight'], s[p + 'mlp.fc1.bias'])),
                     s[p + 'mlp.fc2.weight'], s[p + 'mlp.fc2.bias'])
        x = x + s[p + 'ls2'] * h
    x = x[:, 1:]
    side = int(math.sqrt(x.shape[1]))
    x = x.reshape(b, side, side, -1)
    # InternVL's pixel_shuffle(scale 0.5), ps_version v2.
    n, w, h_, c = x.shape
    x = x.view(n, w, h_ // 2, c * 2).permute(0, 2, 1, 3).contiguous()
    x = x.view(n, h_ // 2, w // 2, c * 4).permute(0, 2, 1, 3).contiguous()
    x = x.reshape(n, -1, c * 4)
    x = F.layer_norm(x, (c * 4,), s['mlp1.0.weight'], s['mlp1.0.bias'], 1e-5)
    x = F.gelu(F.linear(x, s['mlp1.1.weight'], s['mlp1.1.bias']))
    return F.linear(x, s['mlp1.3.weight'], s['mlp1.3.bias'])


def _rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS_RMS))


def _rope(x, positions, head_dim):
    inv = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    freqs = positions[:, None].float() * inv[None]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    half = head_dim // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def ref_internlm2_logits(s: dict, input_ids: torch.Tensor) -> torch.Tensor:
    """InternLM2ForCausalLM forward with the fused, per-KV-group ``wqkv``."""
    b, length = input_ids.shape
    hd, groups = T_HIDDEN // T_HEADS, T_HEADS // T_KV
    x = s['language_model.model.tok_embeddings.weight'][input_ids]
    pos = torch.arange(length)
    for i in range(T_LAYERS):
        p = f'language_model.model.layers.{i}.'
        h = _rms(x, s[p + 'attention_norm.weight'])
        qkv = F.linear(h, s[p + 'attention.wqkv.weight']).view(b, length, T_KV, groups + 2, hd)
        q = qkv[..., :groups, :].reshape(b, length, T_HEADS, hd).transpose(1, 2)
        k = qkv[..., -2, :].transpose(1, 2)
        v = qkv[..., -1, :].transpose(1, 2)
        q, k = _rope(q, pos, hd), _rope(k, pos, hd)
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        attn = attn.transpose(1, 2).reshape(b, length, T_HIDDEN)
        x = x + F.linear(attn, s[p + 'attention.wo.weight'])
        h = _rms(x, s[p + 'ffn_norm.weight'])
        ff = F.silu(F.linear(h, s[p + 'feed_forward.w1.weight'])) * \
            F.linear(h, s[p + 'feed_forward.w3.weight'])
        x = x + F.linear(ff, s[p + 'feed_forward.w2.weight'])
    x = _rms(x, s['language_model.model.norm.weight'])
    return F.linear(x, s['language_model.output.weight'])


def write_original_folder(root, internlm2: bool):
    from safetensors.torch import save_file

    from desa2va_mm.tokenization import TinyWordTokenizer
    tokenizer = TinyWordTokenizer(vocabulary=None)
    tokenizer.save_pretrained(str(root))
    vocab = len(tokenizer)
    state = original_state(vocab, internlm2)
    with open(osp.join(root, 'config.json'), 'w') as f:
        json.dump(original_config(vocab, internlm2), f)
    # Two shards, like a real checkpoint folder.
    keys = sorted(state)
    save_file({k: state[k] for k in keys[:len(keys) // 2]},
              osp.join(root, 'model-00001-of-00002.safetensors'))
    save_file({k: state[k] for k in keys[len(keys) // 2:]},
              osp.join(root, 'model-00002-of-00002.safetensors'))
    return state, tokenizer


def test_split_internlm2_wqkv_takes_rows_per_kv_group():
    heads, kv, hd, hidden = 4, 2, 3, 5
    # Row r of the fused weight holds the value r: the split must pick whole groups.
    wqkv = torch.arange((heads + 2 * kv) * hd).float()[:, None].expand(-1, hidden)
    q, k, v = split_internlm2_wqkv(wqkv, heads, kv, hd)
    rows = lambda t: t[:, 0].long().tolist()  # noqa: E731
    # group g occupies rows [g*12, g*12+12): 2 query heads (6 rows), 1 key head, 1 value head.
    assert rows(q) == list(range(0, 6)) + list(range(12, 18))
    assert rows(k) == list(range(6, 9)) + list(range(18, 21))
    assert rows(v) == list(range(9, 12)) + list(range(21, 24))


@pytest.mark.parametrize('internlm2', [True, False])
def test_original_to_native_forward_matches(tmp_path, internlm2):
    from transformers import InternVLForConditionalGeneration

    from tools.model_converters.internvl_to_hf import convert
    src, out = tmp_path / 'orig', tmp_path / 'native'
    src.mkdir()
    state, tokenizer = write_original_folder(src, internlm2)
    report = convert(str(src), str(out), dtype='float32')
    # Vision qkv weight + bias per layer; InternLM2 wqkv per layer.
    assert report['split'] == 2 * V_LAYERS + (T_LAYERS if internlm2 else 0)
    assert 'tokenizer_config.json' in report['tokenizer_files']

    model = InternVLForConditionalGeneration.from_pretrained(str(out), dtype=torch.float32)
    model.eval()
    cfg = model.config
    assert cfg.text_config.model_type == ('llama' if internlm2 else 'qwen2')
    assert cfg.image_token_id == tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert not cfg.tie_word_embeddings

    pixels = torch.randn(2, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        native = model.model.get_image_features(pixel_values=pixels,
                                                return_dict=True).pooler_output
        reference = ref_vision_features(state, pixels)
    assert native.shape == reference.shape == (2, 4, T_HIDDEN)
    torch.testing.assert_close(native, reference, atol=1e-5, rtol=1e-5)

    if internlm2:
        ids = torch.randint(0, len(tokenizer), (2, 7), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            logits = model(input_ids=ids).logits
        torch.testing.assert_close(logits, ref_internlm2_logits(state, ids), atol=1e-5,
                                   rtol=1e-5)
    else:
        # Qwen2 keeps its names: the LM weights arrive untouched.
        sd = model.state_dict()
        torch.testing.assert_close(sd['model.language_model.layers.1.self_attn.k_proj.bias'],
                                   state['language_model.model.layers.1.self_attn.k_proj.bias'])
        torch.testing.assert_close(sd['lm_head.weight'], state['language_model.lm_head.weight'])


def test_unknown_or_missing_keys_stop_the_conversion(tmp_path):
    from safetensors.torch import load_file, save_file

    from desa2va_mm.utils.state_dict_check import StateDictMismatchError
    from tools.model_converters.internvl_to_hf import convert
    src = tmp_path / 'orig'
    src.mkdir()
    write_original_folder(src, internlm2=True)
    shard = osp.join(src, 'model-00001-of-00002.safetensors')
    state = load_file(shard)
    state['vision_model.encoder.layers.0.attn.mystery.weight'] = torch.zeros(2)
    save_file(state, shard)
    with pytest.raises(ValueError, match='attn.mystery.weight'):
        convert(str(src), str(tmp_path / 'a'), dtype='float32')
    del state['vision_model.encoder.layers.0.attn.mystery.weight']
    dropped_key = sorted(state)[0]
    del state[dropped_key]
    save_file(state, shard)
    with pytest.raises(StateDictMismatchError, match='missing keys'):
        convert(str(src), str(tmp_path / 'b'), dtype='float32')
