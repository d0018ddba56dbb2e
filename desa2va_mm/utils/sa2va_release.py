"""Sa2VA's Hugging Face release folder <-> our Sa2VA baseline, in one step each way.

A release folder (``huggingface-cli download ByteDance/Sa2VA-1B``, or what
:func:`export_sa2va_release` writes) holds::

    config.json                 Sa2VAChatConfig: vision_config (InternViT), llm_config
                                (Qwen2 / InternLM2 ...), select_layer, ps_version,
                                downsample_ratio, force_image_size, template ...
    model.safetensors           Sa2VAChatModel's state dict, LoRA merged: vision_model.*,
      (or model-0000i-of-0000n  mlp1.*, language_model.*, grounding_encoder.sam2_model.*
      + model.safetensors.      (SAM-2's layer-scale ``gamma`` saved as ``g_weight``),
      index.json)               text_hidden_fcs.{0,2}.*
    tokenizer files             the InternVL tokenizer with [SEG] and the region tokens

:func:`load_sa2va_release` reads such a folder straight into a built Sa2VA-baseline model
(``tools/test.py CONFIG FOLDER`` uses it): the settings that do not change any weight's
shape (``select_layer``, ``ps_version``, ``downsample_ratio``, ``force_image_size``,
``template``) are checked against the model first, and a mismatch names both values and
the config key to set. :func:`export_sa2va_release` writes our Sa2VA baseline in that
layout, so Sa2VA's own ``Sa2VAChatModel.from_pretrained`` loads it with no missing or
unexpected key (``tools/model_converters/sa2va_baseline_to_hf.py``). A DeSa2VA model has
no Sa2VA counterpart (two decoders, the decoupling neck, the fusion): it is exported in
our own folder format (:mod:`desa2va_mm.utils.hf_export`).

Sa2VA keeps one SAM-2 mask decoder (``grounding_encoder.sam2_model.sam_mask_decoder``).
Ours keeps SAM-2's stock decoder as the frozen template the head was copied from
(``grounding_encoder.sam2.sam_mask_decoder``, never used for masks) and the trained copy
in ``seg_head.mask_head.decoder``: the export writes the trained copy, the import fills
both from Sa2VA's one decoder.
"""
import json
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional

import torch

__all__ = ['SA2VA_TEMPLATES', 'is_sa2va_release', 'use_release_tokenizer', 'read_sa2va_release_config',
           'sa2va_state_dict', 'sa2va_release_config', 'export_sa2va_release',
           'check_release_settings', 'load_sa2va_release', 'merged_state_dict',
           'native_to_sa2va_mllm']

#: Our chat template name -> Sa2VA's ``template`` (``templates.py`` ``PROMPT_TEMPLATE``):
#: what Sa2VA's converter writes, the template the model was trained on (1B ``qwen_chat``,
#: 4B ``phi3_chat``, 8B ``internlm2_chat``).
SA2VA_TEMPLATES = {'qwen2': 'qwen_chat', 'internlm2': 'internlm2_chat', 'phi3': 'phi3_chat'}

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
INDEX_FILE = 'model.safetensors.index.json'
#: Sa2VA's modeling files (``projects/llava_sam2/hf/models``) that ``auto_map`` names.
AUTO_MAP = {'AutoConfig': 'configuration_sa2va_chat.Sa2VAChatConfig',
            'AutoModel': 'modeling_sa2va_chat.Sa2VAChatModel',
            'AutoModelForCausalLM': 'modeling_sa2va_chat.Sa2VAChatModel'}


# --------------------------------------------------------------------------- reading
def is_sa2va_release(path: str) -> bool:
    """Whether ``path`` is a Sa2VA Hugging Face folder (``config.json`` of ``sa2va_chat``)."""
    config = osp.join(path, CONFIG_FILE)
    if not osp.isdir(path) or not osp.isfile(config):
        return False
    try:
        with open(config, encoding='utf-8') as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return False
    return cfg.get('model_type') == 'sa2va_chat' or \
        'Sa2VAChatModel' in (cfg.get('architectures') or [])


def read_sa2va_release_config(folder: str) -> dict:
    """The release's ``config.json``; a clear error when it is not a Sa2VA folder."""
    path = osp.join(folder, CONFIG_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{folder} is not a Sa2VA release folder: no {CONFIG_FILE}')
    with open(path, encoding='utf-8') as f:
        cfg = json.load(f)
    if 'llm_config' not in cfg or 'vision_config' not in cfg:
        raise ValueError(f'{path}: no llm_config / vision_config: not a Sa2VA '
                         '(Sa2VAChatConfig) release')
    return cfg


# --------------------------------------------------------------------------- our -> Sa2VA
def merged_state_dict(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """``module.state_dict()`` with every peft LoRA layer merged; the module is untouched.

    ``X.base_layer.weight`` + ``X.lora_*`` become ``X.weight`` = W + scale * B A (peft's
    own ``get_delta_weight``), so the result has the names of the model without LoRA.
    """
    from peft.tuners.lora import LoraLayer
    state = {k: v.detach() for k, v in module.state_dict().items()}
    for name, layer in module.named_modules():
        if not isinstance(layer, LoraLayer):
            continue
        prefix = f'{name}.' if name else ''
        base = state.pop(f'{prefix}base_layer.weight')
        delta = sum((layer.get_delta_weight(a) for a in layer.active_adapters),
                    torch.zeros_like(base))
        state[f'{prefix}weight'] = (base + delta.to(base.dtype)).detach()
        if f'{prefix}base_layer.bias' in state:
            state[f'{prefix}bias'] = state.pop(f'{prefix}base_layer.bias')
    return {k: v for k, v in state.items() if not re.search(r'\.lora_[A-Za-z_]+\.', k)}


def _merge_internlm2_wqkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                          num_heads: int, num_kv_heads: int, head_dim: int) -> torch.Tensor:
    """Llama's q, k, v -> InternLM2's fused ``wqkv`` (inverse of ``split_internlm2_wqkv``).

    Rows are laid out per KV group: the group's ``num_heads / num_kv_heads`` query heads,
    then its key head, then its value head.
    """
    groups = num_heads // num_kv_heads
    hidden = q.shape[-1]
    q = q.reshape(num_kv_heads, groups, head_dim, hidden)
    k = k.reshape(num_kv_heads, 1, head_dim, hidden)
    v = v.reshape(num_kv_heads, 1, head_dim, hidden)
    return torch.cat([q, k, v], dim=1).reshape(-1, hidden).contiguous()


_VISION_LAYER_INVERSE = (
    (r'^attention\.projection_layer\.', 'attn.proj.'),
    (r'^attention\.(q_norm|k_norm)\.', r'attn.\1.'),
    (r'^lambda_1$', 'ls1'),
    (r'^lambda_2$', 'ls2'),
    (r'^layernorm_before\.', 'norm1.'),
    (r'^layernorm_after\.', 'norm2.'),
    (r'^mlp\.(fc1|fc2)\.', r'mlp.\1.'),
)
_INTERNLM2_INVERSE = (
    (r'^self_attn\.o_proj\.', 'attention.wo.'),
    (r'^mlp\.gate_proj\.', 'feed_forward.w1.'),
    (r'^mlp\.down_proj\.', 'feed_forward.w2.'),
    (r'^mlp\.up_proj\.', 'feed_forward.w3.'),
    (r'^input_layernorm\.', 'attention_norm.'),
    (r'^post_attention_layernorm\.', 'ffn_norm.'),
)
_PROJECTOR_INVERSE = {'layer_norm': '0', 'linear_1': '1', 'linear_2': '3'}


def native_to_sa2va_mllm(native: Dict[str, torch.Tensor], text_cfg: dict,
                         internlm2: bool) -> Dict[str, torch.Tensor]:
    """Native ``InternVLForConditionalGeneration`` keys -> Sa2VA's (original InternVL) keys.

    The inverse of :func:`desa2va_mm.utils.internvl_conversion.convert_internvl_state_dict`:
    the vision tower's q / k / v are fused into ``attn.qkv``; with ``internlm2`` the Llama
    language model takes InternLM2's names and fused ``wqkv``.

    Args:
        native: Keys of the HF model (``model.vision_tower.*``, ``model.multi_modal_projector.*``,
            ``model.language_model.*``, ``lm_head.weight``), no LoRA.
        text_cfg: The native text config as a dict (heads, KV heads, hidden size).
        internlm2: Write InternLM2 names (InternVL2.5-8B).

    Returns:
        ``vision_model.*``, ``mlp1.*``, ``language_model.*`` keys. Raises ``ValueError``
        naming every key it cannot place.
    """
    out: Dict[str, torch.Tensor] = {}
    unknown: List[str] = []
    vision = 'model.vision_tower.'
    for key, value in native.items():
        if key.startswith(vision):
            rest = key[len(vision):]
            simple = {'embeddings.cls_token': 'embeddings.class_embedding',
                      'embeddings.position_embeddings': 'embeddings.position_embedding'}
            m = re.match(r'^embeddings\.patch_embeddings\.projection\.(weight|bias)$', rest)
            layer = re.match(r'^encoder\.layer\.(\d+)\.(.+)$', rest)
            if rest in simple:
                out['vision_model.' + simple[rest]] = value
            elif m:
                out[f'vision_model.embeddings.patch_embedding.{m.group(1)}'] = value
            elif layer:
                idx, sub = layer.groups()
                base = f'vision_model.encoder.layers.{idx}.'
                qkv = re.match(r'^attention\.(q_proj|k_proj|v_proj)\.(weight|bias)$', sub)
                if qkv:
                    if qkv.group(1) == 'q_proj':
                        leaf = qkv.group(2)
                        parts = [native[f'{vision}encoder.layer.{idx}.attention.{n}.{leaf}']
                                 for n in ('q_proj', 'k_proj', 'v_proj')]
                        out[f'{base}attn.qkv.{leaf}'] = torch.cat(parts)
                    continue
                for pattern, repl in _VISION_LAYER_INVERSE:
                    if re.match(pattern, sub):
                        out[base + re.sub(pattern, repl, sub)] = value
                        break
                else:
                    unknown.append(key)
            else:
                unknown.append(key)
        elif key.startswith('model.multi_modal_projector.'):
            m = re.match(r'^model\.multi_modal_projector\.(\w+)\.(weight|bias)$', key)
            if m and m.group(1) in _PROJECTOR_INVERSE:
                out[f'mlp1.{_PROJECTOR_INVERSE[m.group(1)]}.{m.group(2)}'] = value
            else:
                unknown.append(key)
        elif key == 'lm_head.weight':
            out['language_model.output.weight' if internlm2 else
                'language_model.lm_head.weight'] = value
        elif key.startswith('model.language_model.'):
            rest = key[len('model.language_model.'):]
            if not internlm2:
                out['language_model.model.' + rest] = value
            elif rest == 'embed_tokens.weight':
                out['language_model.model.tok_embeddings.weight'] = value
            elif rest == 'norm.weight':
                out['language_model.model.norm.weight'] = value
            else:
                m = re.match(r'^layers\.(\d+)\.(.+)$', rest)
                if not m:
                    unknown.append(key)
                    continue
                idx, sub = m.groups()
                base = f'language_model.model.layers.{idx}.'
                if sub in ('self_attn.k_proj.weight', 'self_attn.v_proj.weight'):
                    continue
                if sub == 'self_attn.q_proj.weight':
                    heads, kv = text_cfg['num_attention_heads'], text_cfg['num_key_value_heads']
                    head_dim = text_cfg.get('head_dim') or text_cfg['hidden_size'] // heads
                    attn = f'model.language_model.layers.{idx}.self_attn.'
                    out[base + 'attention.wqkv.weight'] = _merge_internlm2_wqkv(
                        value, native[attn + 'k_proj.weight'], native[attn + 'v_proj.weight'],
                        heads, kv, head_dim)
                    continue
                for pattern, repl in _INTERNLM2_INVERSE:
                    if re.match(pattern, sub):
                        out[base + re.sub(pattern, repl, sub)] = value
                        break
                else:
                    unknown.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'{len(unknown)} InternVL keys have no Sa2VA counterpart:\n    '
                         + '\n    '.join(sorted(unknown)[:50]))
    return out


def _require_sa2va_baseline(model) -> None:
    from desa2va_mm.models.seg_heads import Sa2VASegHead
    if not isinstance(getattr(model, 'seg_head', None), Sa2VASegHead):
        raise ValueError(
            f'Sa2VA release folders hold the Sa2VA baseline (seg_head type Sa2VASegHead); '
            f'this model has {type(getattr(model, "seg_head", None)).__name__}. A DeSa2VA '
            'model has no Sa2VA counterpart: export it with '
            'tools/model_converters/desa2va_to_hf.py (our own folder format).')


def _is_internlm2(model) -> bool:
    return getattr(model.mllm, 'chat_template', None) == 'internlm2'


def sa2va_state_dict(model) -> Dict[str, torch.Tensor]:
    """Our Sa2VA baseline's weights under Sa2VA's names (``Sa2VAChatModel.state_dict()``).

    LoRA is merged (the model is not modified). SAM-2's ``gamma`` is written as
    ``g_weight`` and the head's trained decoder as SAM-2's ``sam_mask_decoder``, as
    Sa2VA's ``convert_to_hf.py`` does.

    Args:
        model: A built ``DeSa2VA`` with ``seg_head=dict(type='Sa2VASegHead')``.

    Returns:
        Contiguous CPU tensors keyed by Sa2VA's names.
    """
    _require_sa2va_baseline(model)
    mllm = merged_state_dict(model.mllm.model)
    out = native_to_sa2va_mllm(mllm, model.mllm.config.text_config.to_dict(),
                               _is_internlm2(model))
    for key, value in model.grounding_encoder.sam2.state_dict().items():
        if key.startswith('sam_mask_decoder.'):
            continue
        if key.endswith('.gamma'):
            key = key[:-len('.gamma')] + '.g_weight'
        out['grounding_encoder.sam2_model.' + key] = value
    for key, value in model.seg_head.mask_head.decoder.state_dict().items():
        out['grounding_encoder.sam2_model.sam_mask_decoder.' + key] = value
    for key, value in model.seg_head.text_hidden_fcs.state_dict().items():
        m = re.match(r'^mlp\.(\d+)\.(weight|bias)$', key)
        if m is None:
            raise ValueError(f'seg_head.text_hidden_fcs.{key}: Sa2VA\'s text_hidden_fcs is '
                             'Linear-ReLU-Linear (mlp.0 / mlp.2); this projection has no '
                             'Sa2VA counterpart')
        out[f'text_hidden_fcs.{m.group(1)}.{m.group(2)}'] = value
    # Meta tensors (a model built without memory, to list names and shapes) stay meta.
    return {k: v.detach().contiguous() if v.is_meta else v.detach().cpu().contiguous()
            for k, v in out.items()}


def _vision_config(model) -> dict:
    vision = model.mllm.config.vision_config
    size = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) \
        else vision.image_size
    patch = vision.patch_size[0] if isinstance(vision.patch_size, (list, tuple)) \
        else vision.patch_size
    return dict(
        architectures=['InternVisionModel'], model_type='intern_vit_6b',
        hidden_size=vision.hidden_size, intermediate_size=vision.intermediate_size,
        num_hidden_layers=vision.num_hidden_layers,
        num_attention_heads=vision.num_attention_heads, num_channels=vision.num_channels,
        image_size=int(size), patch_size=int(patch), qkv_bias=bool(vision.attention_bias),
        qk_normalization=bool(vision.use_qk_norm), norm_type=vision.norm_type,
        layer_norm_eps=vision.layer_norm_eps, hidden_act=vision.hidden_act,
        initializer_factor=vision.layer_scale_init_value, initializer_range=0.02,
        drop_path_rate=0.0, dropout=0.0, attention_dropout=0.0, use_flash_attn=False)


def _dtype_name(model) -> str:
    """The MLLM weights' dtype as config.json writes it (``'bfloat16'``, ``'float32'``)."""
    return str(next(model.mllm.model.parameters()).dtype).replace('torch.', '')


def _llm_config(model) -> dict:
    text = model.mllm.config.text_config.to_dict()
    rope = text.pop('rope_parameters', None) or {}
    vocab = model.mllm.input_embeddings().num_embeddings
    common = dict(vocab_size=vocab, hidden_size=text['hidden_size'],
                  intermediate_size=text['intermediate_size'],
                  num_hidden_layers=text['num_hidden_layers'],
                  num_attention_heads=text['num_attention_heads'],
                  num_key_value_heads=text['num_key_value_heads'],
                  max_position_embeddings=text['max_position_embeddings'],
                  rms_norm_eps=text['rms_norm_eps'], hidden_act=text.get('hidden_act', 'silu'),
                  rope_theta=float(rope.get('rope_theta', 10000.0)),
                  rope_scaling=None if rope.get('rope_type', 'default') == 'default' else
                  {('type' if k == 'rope_type' else k): v for k, v in rope.items()
                   if k != 'rope_theta'},
                  tie_word_embeddings=False, torch_dtype=_dtype_name(model),
                  bos_token_id=text.get('bos_token_id'), eos_token_id=text.get('eos_token_id'),
                  pad_token_id=text.get('pad_token_id'))
    if _is_internlm2(model):
        return dict(common, architectures=['InternLM2ForCausalLM'], model_type='internlm2',
                    bias=bool(text.get('attention_bias', False)), attn_implementation='eager')
    if text.get('model_type') != 'qwen2':
        raise ValueError(f'model.mllm language model {text.get("model_type")!r}: the Sa2VA '
                         'export writes Qwen2 (InternVL2.5-1B / 4B) and InternLM2 (8B)')
    return dict(common, architectures=['Qwen2ForCausalLM'], model_type='qwen2',
                use_sliding_window=False, sliding_window=None,
                max_window_layers=text.get('max_window_layers', text['num_hidden_layers']))


def sa2va_release_config(model, *, max_dynamic_patch: int = 12,
                         use_thumbnail: bool = True) -> dict:
    """``config.json`` of a Sa2VA release for our Sa2VA baseline (``Sa2VAChatConfig``).

    Args:
        model: A built Sa2VA-baseline ``DeSa2VA``.
        max_dynamic_patch: Most image tiles (Sa2VA's releases: 12).
        use_thumbnail: A whole-image thumbnail tile after the others (Sa2VA: True).

    Returns:
        The JSON-able dict (``auto_map`` names Sa2VA's modeling files).
    """
    _require_sa2va_baseline(model)
    cfg = model.mllm.config
    template = SA2VA_TEMPLATES.get(model.mllm.chat_template)
    if template is None:
        raise ValueError(f'model.mllm.chat_template={model.mllm.chat_template!r} has no Sa2VA '
                         f'template; known: {sorted(SA2VA_TEMPLATES)}')
    vision = _vision_config(model)
    return dict(
        architectures=['Sa2VAChatModel'], model_type='sa2va_chat', auto_map=dict(AUTO_MAP),
        vision_config=vision, llm_config=_llm_config(model),
        use_backbone_lora=0, use_llm_lora=0, pad2square=False,
        select_layer=int(cfg.vision_feature_layer), force_image_size=vision['image_size'],
        downsample_ratio=float(cfg.downsample_ratio), template=template,
        dynamic_image_size=True, use_thumbnail=use_thumbnail,
        # transformers' native InternVL pixel shuffle swaps height and width back: v2.
        ps_version='v2', min_dynamic_patch=1, max_dynamic_patch=max_dynamic_patch,
        hidden_size=int(cfg.text_config.hidden_size), tie_word_embeddings=False,
        torch_dtype=_dtype_name(model))


def _save_shards(state: Dict[str, torch.Tensor], out_dir: str, max_shard_bytes: int,
                 metadata: dict) -> List[str]:
    from safetensors.torch import save_file
    shards: List[Dict[str, torch.Tensor]] = [{}]
    size = 0
    for key in sorted(state):
        nbytes = state[key].numel() * state[key].element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = state[key]
        size += nbytes
    for stale in os.listdir(out_dir):
        if re.match(r'^model(-\d{5}-of-\d{5})?\.safetensors(\.index\.json)?$', stale):
            os.remove(osp.join(out_dir, stale))
    if len(shards) == 1:
        save_file(shards[0], osp.join(out_dir, WEIGHTS_FILE), metadata=metadata)
        return [WEIGHTS_FILE]
    names, weight_map = [], {}
    for i, shard in enumerate(shards):
        name = f'model-{i + 1:05d}-of-{len(shards):05d}.safetensors'
        save_file(shard, osp.join(out_dir, name), metadata=metadata)
        names.append(name)
        weight_map.update({k: name for k in shard})
    total = sum(v.numel() * v.element_size() for v in state.values())
    with open(osp.join(out_dir, INDEX_FILE), 'w', encoding='utf-8') as f:
        json.dump(dict(metadata=dict(total_size=total), weight_map=weight_map), f, indent=2)
    return names + [INDEX_FILE]


def export_sa2va_release(model, out_dir: str, *, sa2va_code: Optional[str] = None,
                         max_shard_size_gb: float = 5.0, **config_kwargs) -> dict:
    """Write our Sa2VA baseline as a Sa2VA Hugging Face release folder.

    Args:
        model: A built Sa2VA-baseline ``DeSa2VA`` with its trained weights (not modified;
            LoRA is merged into the written weights).
        out_dir: Output folder (created).
        sa2va_code: Sa2VA's ``projects/llava_sam2/hf/models`` folder (a Sa2VA checkout): its
            ``*.py`` files are copied next to the weights so that ``AutoModel.from_pretrained
            (out_dir, trust_remote_code=True)`` finds the classes ``auto_map`` names, as
            Sa2VA's own releases ship them (Sa2VA's loading path for its users; this
            project never loads with ``trust_remote_code``). None writes weights, config and tokenizer only.
        max_shard_size_gb: Largest safetensors file; bigger states are sharded with
            ``model.safetensors.index.json``.
        **config_kwargs: Passed to :func:`sa2va_release_config`.

    Returns:
        ``dict(files=[...], num_tensors=N, config=config_dict)``.
    """
    os.makedirs(out_dir, exist_ok=True)
    state = sa2va_state_dict(model)
    config = sa2va_release_config(model, **config_kwargs)
    files = _save_shards(state, out_dir, int(max_shard_size_gb * 1024**3),
                         metadata={'format': 'pt'})
    with open(osp.join(out_dir, CONFIG_FILE), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
    files.append(CONFIG_FILE)
    written = model.mllm.tokenizer.save_pretrained(out_dir)
    files += sorted({osp.basename(str(p)) for p in written if osp.isfile(str(p))})
    if sa2va_code is not None:
        needed = ('configuration_sa2va_chat.py', 'modeling_sa2va_chat.py', 'sam2.py')
        absent = [n for n in needed if not osp.isfile(osp.join(sa2va_code, n))]
        if absent:
            raise FileNotFoundError(f'--sa2va-code {sa2va_code}: no {absent}; give the '
                                    'projects/llava_sam2/hf/models folder of a Sa2VA checkout')
        for name in sorted(os.listdir(sa2va_code)):
            if name.endswith('.py'):
                shutil.copy2(osp.join(sa2va_code, name), osp.join(out_dir, name))
                files.append(name)
    return dict(files=files, num_tensors=len(state), config=config)


# --------------------------------------------------------------------------- Sa2VA -> our
def check_release_settings(release_cfg: dict, model, source: str = 'config.json') -> None:
    """Refuse a release whose shape-neutral settings differ from the model's config.

    Weights of a different width fail on their shapes anyway; these settings do not change
    any shape, so a mismatch would load silently and predict wrongly.

    Raises:
        ValueError: naming each setting, both values and the config key to set.
    """
    cfg = model.mllm.config
    vision = cfg.vision_config
    size = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) \
        else vision.image_size
    theirs_size = release_cfg.get('force_image_size') or \
        release_cfg['vision_config'].get('image_size')
    ours_template = SA2VA_TEMPLATES.get(model.mllm.chat_template, model.mllm.chat_template)
    checks = [
        ('select_layer', release_cfg.get('select_layer', -1), cfg.vision_feature_layer,
         'model.mllm.model_config.vision_feature_layer'),
        ('downsample_ratio', release_cfg.get('downsample_ratio', 0.5), cfg.downsample_ratio,
         'model.mllm.model_config.downsample_ratio'),
        ('force_image_size', theirs_size, size,
         'model.mllm.model_config.vision_config.image_size'),
        ('template', (release_cfg.get('template') or '').replace('-', '_'), ours_template,
         'model.mllm.chat_template'),
        ('ps_version', release_cfg.get('ps_version', 'v1'), 'v2', None),
    ]
    problems = []
    for name, theirs, ours, key in checks:
        same = abs(float(theirs) - float(ours)) < 1e-9 if isinstance(theirs, (int, float)) \
            and isinstance(ours, (int, float)) else theirs == ours
        if same:
            continue
        if key is None:
            problems.append(f'{name}: release {theirs!r}, ours {ours!r} (transformers\' native '
                            "InternVL implements ps_version 'v2' only; 'v1' leaves the "
                            'image transposed and cannot be loaded)')
        elif name == 'template' and theirs not in SA2VA_TEMPLATES.values():
            problems.append(f'template: release {theirs!r}, config {ours!r}; no chat template '
                            f'of ours is {theirs!r} (ours: {sorted(SA2VA_TEMPLATES.values())}):'
                            ' the weights were trained on another prompt format')
        else:
            want = {v: k for k, v in SA2VA_TEMPLATES.items()}.get(theirs, theirs) \
                if name == 'template' else theirs
            problems.append(f'{name}: release {theirs!r}, config {ours!r}; set '
                            f'--cfg-options {key}={want}')
    if problems:
        raise ValueError(f'{source} does not match the config it is loaded into:\n  '
                         + '\n  '.join(problems))


def use_release_tokenizer(model_cfg: dict, folder: str) -> bool:
    """Point an offline stand-in tokenizer of ``model_cfg`` at the release's tokenizer.

    Call on the config before the model is built: a real-size config without
    ``model.mllm.pretrained`` builds InternVL's stand-in tokenizer (template words only);
    the release's weights need the release's vocabulary. A config naming a pretrained
    folder or another tokenizer is left alone.

    Returns:
        Whether the tokenizer path was set.
    """
    mllm = model_cfg.get('mllm') or {}
    tokenizer = mllm.get('tokenizer') or {}
    if mllm.get('pretrained') is None and tokenizer.get('type') == 'InternVLTokenizer' \
            and tokenizer.get('path') is None:
        tokenizer['path'] = folder
        return True
    return False


def _unwrap(model):
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def load_sa2va_release(model, folder: str, *, logger: Optional[str] = None) -> dict:
    """Load a Sa2VA release folder into a built Sa2VA-baseline model, in memory.

    Every weight is placed and checked: Sa2VA keys with no place, missing model keys
    (except LoRA adapters, which start at B = 0 since the release has LoRA merged) and
    shape mismatches are errors naming the keys.

    Args:
        model: A built ``DeSa2VA`` with ``Sa2VASegHead`` (or a wrapper around one).
        folder: The release folder (``config.json`` + safetensors).
        logger: MMEngine logger name to report to (None prints nothing).

    Returns:
        ``dict(num_tensors=..., fresh_lora=[model keys left at their initial value],
        dropped={sa2va_key: reason})``.
    """
    from desa2va_mm.utils.internvl_conversion import load_state_dict_files
    from desa2va_mm.utils.sa2va_conversion import (adapt_to_model_keys,
                                                   convert_sa2va_state_dict)
    from desa2va_mm.utils.state_dict_check import check_state_dict

    model = _unwrap(model)
    _require_sa2va_baseline(model)
    release_cfg = read_sa2va_release_config(folder)
    check_release_settings(release_cfg, model, source=osp.join(folder, CONFIG_FILE))
    source = load_state_dict_files(folder)
    state, dropped = convert_sa2va_state_dict(
        source, target='sa2va', text_cfg=model.mllm.config.text_config.to_dict(),
        internlm2='InternLM2' in str(release_cfg['llm_config'].get('architectures')))
    expected = model.state_dict()
    state = adapt_to_model_keys(state, expected)
    allowed = [k for k in expected if '.lora_' in k]
    missing, _ = check_state_dict(expected, state, source=f'{folder} (Sa2VA release)',
                                  allowed_missing=allowed or None)
    state = {k: v.to(device=expected[k].device, dtype=expected[k].dtype)
             for k, v in state.items()}
    model.load_state_dict(state, strict=False)
    report = dict(num_tensors=len(state), fresh_lora=missing, dropped=dropped)
    if logger is not None:
        from mmengine.logging import print_log
        print_log(f'Loaded Sa2VA release {folder}: {len(state)} tensors, '
                  f'{len(missing)} LoRA adapter tensors left at B = 0 (release has LoRA '
                  f'merged), {len(dropped)} source keys dropped', logger=logger)
    return report
