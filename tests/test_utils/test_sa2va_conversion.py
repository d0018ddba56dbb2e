"""Sa2VA checkpoint -> our Sa2VA baseline / DeSa2VA init, and back.

Where the Sa2VA key names come from (not from our own inverse mapping):

* ``sa2va_1b_state_dict_keys.txt``: ``Sa2VAChatModel(config).state_dict()`` of Sa2VA's HF
  code (bytedance/Sa2VA ``projects/llava_sam2/hf/models``) with Sa2VA-1B's config, i.e.
  the names and shapes of the release's ``model.safetensors`` (header of the file);
* with Sa2VA's code at hand (``SA2VA_ROOT``: a checkout or a bare clone), its
  ``Sa2VAChatModel`` itself: built on the tiny config it must load our export with no
  missing / unexpected key, hold the exported values, and give them back on import.

The tiny Sa2VA state of the fixture is written with those names (the mapping is checked
against both sources above); from it our baseline must produce the same mask logits as a
direct re-implementation of Sa2VA's projection path (text_hidden_fcs -> one token after
the prompt encoder's padding -> SAM-2's decoder, multimask, best IoU) on that SAM-2.
"""
import os
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


@pytest.fixture(scope='module')
def sa2va_checkpoint():
    """A Sa2VA-format state dict and the SAM-2 it came from (built independently)."""
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from desa2va_mm.models.grounding.sam2_grounding import flatten_overrides
    from desa2va_mm.utils.sa2va_release import native_to_sa2va_mllm
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
    state = native_to_sa2va_mllm({k[len('mllm.model.'):]: v for k, v in mllm_native.items()},
                                 donor.mllm.config.text_config.to_dict(), internlm2=False)
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


# ---- names and shapes of the published Sa2VA-1B release ------------------------------
KEYS_FILE = osp.join(osp.dirname(osp.abspath(__file__)), 'sa2va_1b_state_dict_keys.txt')


def published_sa2va_1b() -> dict:
    """``{key: shape}`` of Sa2VA-1B's ``model.safetensors`` (see the file's header)."""
    shapes = {}
    with open(KEYS_FILE, encoding='utf-8') as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            key, shape = line.split()
            shapes[key] = tuple(int(x) for x in shape.split('x'))
    return shapes


@pytest.fixture(scope='module')
def sa2va_1b_on_meta():
    from mmengine.config import Config

    from tools.analysis_tools.param_count import build_on_meta
    return build_on_meta(Config.fromfile(osp.join(REPO_ROOT, 'configs/sa2va/sa2va_1b.py')))


def test_published_sa2va_1b_names_load_into_the_1b_baseline(sa2va_1b_on_meta):
    from desa2va_mm.utils.sa2va_conversion import (adapt_to_model_keys,
                                                   convert_sa2va_state_dict)
    from desa2va_mm.utils.state_dict_check import check_state_dict
    model = sa2va_1b_on_meta
    published = published_sa2va_1b()
    assert len(published) == 1541
    source = {k: torch.empty(shape, device='meta') for k, shape in published.items()}
    state, dropped = convert_sa2va_state_dict(
        source, target='sa2va', text_cfg=model.mllm.config.text_config.to_dict())
    expected = model.state_dict()
    state = adapt_to_model_keys(state, expected)
    # Every model key but LoRA's fresh adapters is filled, at the right shape.
    missing, _ = check_state_dict(expected, state, source='Sa2VA-1B',
                                  allowed_missing=[k for k in expected if '.lora_' in k])
    assert missing and all('.lora_' in k for k in missing)
    assert not dropped


def test_1b_baseline_exports_the_published_sa2va_1b_names(sa2va_1b_on_meta):
    from desa2va_mm.utils.sa2va_release import sa2va_release_config, sa2va_state_dict
    ours = {k: tuple(v.shape) for k, v in sa2va_state_dict(sa2va_1b_on_meta).items()}
    published = published_sa2va_1b()
    assert sorted(set(published) - set(ours)) == []
    assert sorted(set(ours) - set(published)) == []
    assert {k: s for k, s in ours.items() if published[k] != s} == {}
    config = sa2va_release_config(sa2va_1b_on_meta)
    # Sa2VA-1B's config.json values.
    assert (config['template'], config['ps_version'], config['select_layer'],
            config['downsample_ratio'], config['force_image_size']) == \
        ('qwen_chat', 'v2', -1, 0.5, 448)
    assert config['llm_config']['architectures'] == ['Qwen2ForCausalLM']
    assert config['llm_config']['vocab_size'] == 151679
    assert config['llm_config']['rope_theta'] == 1000000.0
    assert config['vision_config']['qkv_bias'] and not config['vision_config'][
        'qk_normalization']


# ---- release folder: settings check, one-step load -----------------------------------
def _tiny_release(tmp_path, lora=None, seed=0):
    """A tiny baseline with 'trained' weights and its Sa2VA release folder."""
    from desa2va_mm.utils.sa2va_release import export_sa2va_release
    cfg = _cfg('configs/sa2va/sa2va_tiny.py', multimask=False, lora=lora)
    torch.manual_seed(seed)
    model = _build(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            # LoRA B away from 0 and the head's decoder away from SAM-2's template, so the
            # merge and the choice of decoder matter.
            if 'lora_B' in name or name.startswith('seg_head.'):
                p.add_(torch.randn_like(p) * 0.05)
    folder = str(tmp_path / 'release')
    info = export_sa2va_release(model, folder)
    return model, cfg, folder, info


def test_release_round_trip_is_exact(tmp_path):
    from safetensors.torch import load_file

    from desa2va_mm.utils.sa2va_release import is_sa2va_release, load_sa2va_release
    model, cfg, folder, info = _tiny_release(tmp_path)
    assert is_sa2va_release(folder) and not is_sa2va_release(str(tmp_path))
    assert {'config.json', 'model.safetensors', 'tokenizer.json'} <= set(info['files'])
    saved = load_file(osp.join(folder, 'model.safetensors'))
    assert torch.equal(saved['grounding_encoder.sam2_model.sam_mask_decoder.iou_token.weight'],
                       model.seg_head.mask_head.decoder.iou_token.weight)
    torch.manual_seed(1)
    fresh = _build(cfg)
    report = load_sa2va_release(fresh, folder)
    assert report['fresh_lora'] == [] and report['dropped'] == {}
    ours, back = model.state_dict(), fresh.state_dict()
    assert set(ours) == set(back)
    template = 'grounding_encoder.sam2.sam_mask_decoder.'
    for key, value in ours.items():
        if key.startswith(template):
            # Sa2VA keeps one decoder: the trained one fills SAM-2's template as well.
            value = ours['seg_head.mask_head.decoder.' + key[len(template):]]
        assert torch.equal(back[key], value), key


def test_release_with_lora_exports_merged_weights(tmp_path):
    from safetensors.torch import load_file

    from desa2va_mm.utils.sa2va_release import load_sa2va_release
    lora = dict(r=4, lora_alpha=8, lora_dropout=0.0)
    model, cfg, folder, _ = _tiny_release(tmp_path, lora=lora)
    saved = load_file(osp.join(folder, 'model.safetensors'))
    assert not any('lora' in k for k in saved)
    layer = model.mllm.model.model.language_model.layers[0].self_attn.q_proj
    merged = layer.base_layer.weight + layer.get_delta_weight('default')
    torch.testing.assert_close(
        saved['language_model.model.layers.0.self_attn.q_proj.weight'], merged)
    assert not torch.allclose(merged, layer.base_layer.weight)
    # Into a LoRA config: merged weights in base_layer, the adapters start at B = 0.
    fresh = _build(cfg)
    report = load_sa2va_release(fresh, folder)
    assert report['fresh_lora'] and all('.lora_' in k for k in report['fresh_lora'])
    fresh_layer = fresh.mllm.model.model.language_model.layers[0].self_attn.q_proj
    torch.testing.assert_close(fresh_layer.base_layer.weight, merged)
    assert not fresh_layer.lora_B['default'].weight.any()


def test_release_settings_mismatch_names_both_values_and_the_key(tmp_path):
    import json

    from desa2va_mm.utils.sa2va_release import load_sa2va_release
    model, cfg, folder, _ = _tiny_release(tmp_path)
    path = osp.join(folder, 'config.json')
    config = json.load(open(path))
    config.update(select_layer=-2, template='internlm2_chat', ps_version='v1')
    json.dump(config, open(path, 'w'))
    with pytest.raises(ValueError) as err:
        load_sa2va_release(_build(cfg), folder)
    message = str(err.value)
    assert "select_layer: release -2, config -1; set --cfg-options " \
        'model.mllm.model_config.vision_feature_layer=-2' in message
    assert "template: release 'internlm2_chat', config 'qwen_chat'; set --cfg-options " \
        'model.mllm.chat_template=internlm2' in message
    assert "ps_version: release 'v1', ours 'v2'" in message


def test_release_into_a_desa2va_config_is_refused(tmp_path):
    from desa2va_mm.utils.sa2va_release import load_sa2va_release
    _, _, folder, _ = _tiny_release(tmp_path)
    desa2va = _build(_cfg('configs/desa2va/desa2va_tiny_decouple.py'))
    with pytest.raises(ValueError, match='Sa2VASegHead.*DecoupledSegHead'):
        load_sa2va_release(desa2va, folder)


def test_sharded_release_loads(tmp_path):
    import json

    from desa2va_mm.utils.sa2va_release import export_sa2va_release, load_sa2va_release
    model, cfg, _, _ = _tiny_release(tmp_path)
    folder = str(tmp_path / 'sharded')
    info = export_sa2va_release(model, folder, max_shard_size_gb=2e-3)  # ~2 MB shards
    index = json.load(open(osp.join(folder, 'model.safetensors.index.json')))
    shards = sorted(set(index['weight_map'].values()))
    assert len(shards) > 1 and shards[0] == f'model-00001-of-{len(shards):05d}.safetensors'
    assert set(shards) <= set(info['files'])
    fresh = _build(cfg)
    load_sa2va_release(fresh, folder)
    assert torch.equal(fresh.seg_head.text_hidden_fcs.mlp[0].weight,
                       model.seg_head.text_hidden_fcs.mlp[0].weight)


# ---- Sa2VA's own code (skipped without it) ---------------------------------------------
@pytest.fixture(scope='module')
def sa2va_modeling():
    from tools.analysis_tools.sa2va_parity_check import (import_sa2va_modeling,
                                                         resolve_sa2va_models_dir)
    models_dir = resolve_sa2va_models_dir(os.environ.get('SA2VA_ROOT'))
    if models_dir is None:
        pytest.skip("Sa2VA's code is absent: set SA2VA_ROOT to a Sa2VA checkout or clone")
    return import_sa2va_modeling(models_dir)


def test_sa2va_code_loads_our_export_and_we_load_it_back(sa2va_modeling, tmp_path):
    """ours -> export -> Sa2VA's Sa2VAChatModel -> its state dict -> import -> ours again."""
    import shutil

    from safetensors.torch import load_file, save_file

    from desa2va_mm.utils.sa2va_release import load_sa2va_release
    from tools.analysis_tools.sa2va_parity_check import load_sa2va_model
    model, cfg, folder, _ = _tiny_release(tmp_path)
    sa2va, info, _ = load_sa2va_model(sa2va_modeling, folder,
                                      cfg.model.grounding_encoder.to_dict())
    assert type(sa2va).__name__ == 'Sa2VAChatModel'
    assert (sorted(info['missing_keys']), sorted(info['unexpected_keys']),
            list(info['mismatched_keys'])) == ([], [], [])
    saved = load_file(osp.join(folder, 'model.safetensors'))
    theirs = {k: v.contiguous() for k, v in sa2va.state_dict().items()}
    assert set(theirs) == set(saved)
    assert [k for k in saved if not torch.equal(saved[k], theirs[k])] == []
    # What Sa2VA's model holds, written as a release and imported back.
    resaved = tmp_path / 'resaved'
    shutil.copytree(folder, resaved)
    save_file(theirs, str(resaved / 'model.safetensors'), metadata={'format': 'pt'})
    torch.manual_seed(1)
    fresh = _build(cfg)
    load_sa2va_release(fresh, str(resaved))
    ours, back = model.state_dict(), fresh.state_dict()
    assert set(ours) == set(back)
    template = 'grounding_encoder.sam2.sam_mask_decoder.'
    for key, value in ours.items():
        if key.startswith(template):  # Sa2VA's one decoder is the head's
            value = ours['seg_head.mask_head.decoder.' + key[len(template):]]
        assert torch.equal(back[key], value), key


def test_release_tokenizer_replaces_only_the_offline_stand_in():
    from mmengine.config import Config

    from desa2va_mm.utils.sa2va_release import use_release_tokenizer
    real = Config.fromfile(osp.join(REPO_ROOT, 'configs/sa2va/sa2va_1b.py'))
    assert use_release_tokenizer(real.model, 'pretrained/Sa2VA-1B')
    assert real.model.mllm.tokenizer.path == 'pretrained/Sa2VA-1B'
    # A pretrained InternVL folder brings its own tokenizer; the tiny configs their own.
    real = Config.fromfile(osp.join(REPO_ROOT, 'configs/sa2va/sa2va_1b.py'))
    real.model.mllm.pretrained = 'pretrained/InternVL2_5-1B-hf'
    assert not use_release_tokenizer(real.model, 'pretrained/Sa2VA-1B')
    assert real.model.mllm.tokenizer.path is None
    tiny = _cfg('configs/sa2va/sa2va_tiny.py')
    assert not use_release_tokenizer(tiny.model, 'x')
    assert tiny.model.mllm.tokenizer.type == 'TinyWordTokenizer'
