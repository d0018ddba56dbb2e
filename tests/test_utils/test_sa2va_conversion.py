"""Sa2VA checkpoint -> our Sa2VA baseline / DeSa2VA init (tiny models, real key names).

The Sa2VA state dict is written with Sa2VA's names: original InternVL keys
(``vision_model.*`` with fused ``qkv``, ``mlp1.*``, ``language_model.model.*``),
``grounding_encoder.sam2_model.*`` from an independently built SAM-2 and
``text_hidden_fcs.{0,2}``. After conversion our baseline must produce the same mask logits
as a direct re-implementation of Sa2VA's projection path (text_hidden_fcs -> one token after
the prompt encoder's padding -> SAM-2's decoder, multimask, best IoU) on that SAM-2.
"""
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT


def _cfg(config, multimask=True, lora=None):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    head_cfg = cfg.model.seg_head
    heads = ('mask_head', ) if head_cfg.type == 'Sa2VASegHead' else ('text_head', 'visual_head')
    for head in heads:
        head_cfg[head].multimask_output = multimask
    cfg.model.mllm.lora = lora
    return cfg


def _build(cfg):
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        return MODELS.build(cfg.model)


def native_to_original(native: dict) -> dict:
    """Our (native) InternVL keys -> Sa2VA's HF names (fused vision qkv, mlp1, Qwen2 LM)."""
    out = {}
    for key, value in native.items():
        k = key[len('mllm.model.'):]
        if k.startswith('model.vision_tower.'):
            rest = k[len('model.vision_tower.'):]
            rest = rest.replace('embeddings.cls_token', 'embeddings.class_embedding')
            rest = rest.replace('embeddings.position_embeddings', 'embeddings.position_embedding')
            rest = rest.replace('embeddings.patch_embeddings.projection',
                                'embeddings.patch_embedding')
            rest = rest.replace('encoder.layer.', 'encoder.layers.')
            rest = rest.replace('attention.projection_layer', 'attn.proj')
            rest = rest.replace('layernorm_before', 'norm1').replace('layernorm_after', 'norm2')
            rest = rest.replace('lambda_1', 'ls1').replace('lambda_2', 'ls2')
            if '.attention.q_proj.' in rest:
                leaf = rest.split('.')[-1]
                base = k.replace('.attention.q_proj.' + leaf, '.attention.')
                parts = [native['mllm.model.' + base + f'{n}.{leaf}']
                         for n in ('q_proj', 'k_proj', 'v_proj')]
                out['vision_model.' + rest.replace('attention.q_proj', 'attn.qkv')] = \
                    torch.cat(parts)
                continue
            if '.attention.k_proj.' in rest or '.attention.v_proj.' in rest:
                continue
            out['vision_model.' + rest] = value
        elif k.startswith('model.multi_modal_projector.'):
            rest = k[len('model.multi_modal_projector.'):]
            rest = rest.replace('layer_norm', '0').replace('linear_1', '1').replace('linear_2', '3')
            out['mlp1.' + rest] = value
        elif k.startswith('model.language_model.'):
            out['language_model.model.' + k[len('model.language_model.'):]] = value
        elif k == 'lm_head.weight':
            out['language_model.lm_head.weight'] = value
        else:
            raise AssertionError(key)
    return out


@pytest.fixture(scope='module')
def sa2va_checkpoint():
    """A Sa2VA-format state dict and the SAM-2 it came from (built independently)."""
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from desa2va_mm.models.grounding.sam2_grounding import flatten_overrides
    cfg = _cfg('configs/sa2va/sa2va_tiny.py')
    torch.manual_seed(123)
    donor = _build(cfg)  # InternVL weights of the right tiny shapes
    mllm_native = {k: v.clone() for k, v in donor.state_dict().items()
                   if k.startswith('mllm.')}
    sam_cfg = compose(config_name=cfg.model.grounding_encoder.config,
                      overrides=flatten_overrides(cfg.model.grounding_encoder.overrides))
    OmegaConf.resolve(sam_cfg)
    torch.manual_seed(7)
    sam2 = instantiate(sam_cfg.model, _recursive_=True).eval()
    # Non-trivial decoder / prompt weights (a fresh SAM-2 has many zero-initialised ones).
    with torch.no_grad():
        for p in sam2.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    hidden = donor.mllm.hidden_size
    g = torch.Generator().manual_seed(5)
    state = native_to_original(mllm_native)
    # Sa2VA's HF export writes SAM-2's layer-scale `gamma` as `g_weight`.
    sam_state = {k[:-len('.gamma')] + '.g_weight' if k.endswith('.gamma') else k: v
                 for k, v in sam2.state_dict().items()}
    assert any(k.endswith('.g_weight') for k in sam_state)
    state.update({'grounding_encoder.sam2_model.' + k: v for k, v in sam_state.items()})
    state.update({'text_hidden_fcs.0.weight': torch.randn(hidden, hidden, generator=g) * 0.1,
                  'text_hidden_fcs.0.bias': torch.randn(hidden, generator=g) * 0.1,
                  'text_hidden_fcs.2.weight': torch.randn(sam2.hidden_dim, hidden,
                                                          generator=g) * 0.1,
                  'text_hidden_fcs.2.bias': torch.randn(sam2.hidden_dim, generator=g) * 0.1})
    return state, sam2, mllm_native


def sa2va_direct_mask_logits(state, sam2, images, seg_hidden):
    """Sa2VA's path, written out: fcs -> [pad tokens; lang] -> SAM-2 decoder, best IoU."""
    fcs0_w, fcs0_b = state['text_hidden_fcs.0.weight'], state['text_hidden_fcs.0.bias']
    fcs2_w, fcs2_b = state['text_hidden_fcs.2.weight'], state['text_hidden_fcs.2.bias']
    lang = torch.relu(seg_hidden @ fcs0_w.T + fcs0_b) @ fcs2_w.T + fcs2_b
    feats = sam2.forward_image(images)
    _, vision_feats, _, sizes = sam2._prepare_backbone_features(feats)
    b, c = images.shape[0], sam2.hidden_dim
    pix = (vision_feats[-1] + sam2.no_mem_embed).permute(1, 2, 0).view(b, c, *sizes[-1])
    high_res = [x.permute(1, 2, 0).view(b, x.shape[-1], *s)
                for x, s in zip(vision_feats[:-1], sizes[:-1])]
    # SAM2Base._forward_sam_heads with no clicks: one padding point, label -1.
    sparse, dense = sam2.sam_prompt_encoder(
        points=(torch.zeros(b, 1, 2), -torch.ones(b, 1, dtype=torch.int32)), boxes=None,
        masks=None)
    sparse = torch.cat([sparse, lang[:, None]], dim=1)
    masks, ious, _, _ = sam2.sam_mask_decoder(
        image_embeddings=pix, image_pe=sam2.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=True,
        repeat_image=False, high_res_features=high_res)
    best = ious.argmax(-1)
    return masks[torch.arange(b), best].unsqueeze(1)


def _convert(state, cfg, tmp_path, name, partial=False):
    from tools.model_converters.sa2va_to_desa2va import convert
    out = str(tmp_path / f'{name}.pth')
    report = convert(state, out, cfg, partial)
    ckpt = torch.load(out, map_location='cpu', weights_only=True)
    return ckpt['state_dict'], report


def test_sa2va_to_baseline_gives_sa2va_mask_logits(sa2va_checkpoint, tmp_path):
    from desa2va_mm.utils.state_dict_check import check_state_dict
    state, sam2, mllm_native = sa2va_checkpoint
    cfg = _cfg('configs/sa2va/sa2va_tiny.py')
    converted, report = _convert(state, cfg, tmp_path, 'sa2va')
    assert report['target'] == 'sa2va' and not report['missing_explained']
    model = _build(cfg).eval()
    check_state_dict(model.state_dict(), converted)  # nothing missing, extra or mis-shaped
    model.load_state_dict(converted, strict=True)
    # InternVL round trip through Sa2VA's names is exact.
    for key, value in mllm_native.items():
        assert torch.equal(model.state_dict()[key], value), key

    images = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(3))
    seg_hidden = torch.randn(3, model.mllm.hidden_size, generator=torch.Generator().manual_seed(4))
    image_idx = torch.tensor([0, 1, 1])
    with torch.no_grad():
        feats = model.grounding_encoder.encode_image(images)
        ours = model.seg_head.decode(model.grounding_encoder, feats, seg_hidden,
                                     image_idx).final_logits
        reference = sa2va_direct_mask_logits(state, sam2, images[image_idx], seg_hidden)
    assert ours.shape == reference.shape == (3, 1, 32, 32)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_sa2va_to_desa2va_starts_both_heads_from_sa2va_decoder(sa2va_checkpoint, tmp_path):
    state, sam2, _ = sa2va_checkpoint
    cfg = _cfg('configs/desa2va/desa2va_tiny_decouple.py')
    converted, report = _convert(state, cfg, tmp_path, 'desa2va')
    assert report['target'] == 'desa2va'
    assert set(report['dropped']) == {f'text_hidden_fcs.{i}.{p}' for i in (0, 2)
                                      for p in ('weight', 'bias')}
    assert report['missing_explained'] and all(
        k.startswith(('seg_head.neck.', 'seg_head.fusion.', 'seg_head.adversarial_loss.',
                      'seg_head.club_loss.'))
        for k in report['missing_explained'])
    model = _build(cfg)
    result = model.load_state_dict(converted, strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) == set(report['missing_explained'])
    decoder = sam2.sam_mask_decoder.state_dict()
    for head in (model.seg_head.text_head, model.seg_head.visual_head):
        for key, value in head.decoder.state_dict().items():
            assert torch.equal(value, decoder[key]), key


def test_training_pth_with_lora_maps_onto_our_lora(sa2va_checkpoint, tmp_path):
    """xtuner layout: ``mllm.model.`` prefix, peft-wrapped LLM with LoRA adapters."""
    state, _, _ = sa2va_checkpoint
    lora = dict(r=4, lora_alpha=8, lora_dropout=0.0)
    cfg = _cfg('configs/sa2va/sa2va_tiny.py', lora=lora)
    pth = {}
    for key, value in state.items():
        if key.startswith('language_model.model.layers.'):
            key = key.replace('language_model.', 'language_model.base_model.model.')
        pth['mllm.model.' + key if key.startswith(('vision_model', 'mlp1', 'language_model'))
            else key] = value
    hidden = cfg.model.mllm.model_config.text_config.hidden_size
    lora_a = torch.randn(4, hidden)
    lora_b = torch.randn(hidden, 4)
    pth['mllm.model.language_model.base_model.model.model.layers.0.self_attn.q_proj.'
        'lora_A.default.weight'] = lora_a
    pth['mllm.model.language_model.base_model.model.model.layers.0.self_attn.q_proj.'
        'lora_B.default.weight'] = lora_b
    # Training .pth files hold only what trained: --partial.
    converted, report = _convert(pth, cfg, tmp_path, 'lora', partial=True)
    prefix = 'mllm.model.model.language_model.layers.0.self_attn.q_proj.'
    assert torch.equal(converted[prefix + 'lora_A.default.weight'], lora_a)
    assert torch.equal(converted[prefix + 'lora_B.default.weight'], lora_b)
    assert prefix + 'base_layer.weight' in converted
    # The other LoRA layers were not in the file: reported, not silently skipped.
    assert report['missing_explained']
    assert all('.lora_' in k for k in report['missing_explained'])


def test_unplaceable_key_stops_the_conversion(sa2va_checkpoint, tmp_path):
    state, _, _ = sa2va_checkpoint
    bad = dict(state)
    bad['grounding_encoder.extra_head.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='extra_head'):
        _convert(bad, _cfg('configs/sa2va/sa2va_tiny.py'), tmp_path, 'bad')
