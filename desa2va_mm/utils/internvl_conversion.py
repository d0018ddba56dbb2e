"""Original InternVL (remote-code ``InternVLChatModel``) -> native transformers InternVL.

The installed transformers wheel does not ship its InternVL conversion script
(``convert_internvl_weights_to_hf.py`` lives only in the source repository), so the same
mapping is implemented here, key by key, and checked against the native model's own keys:

============================================  =============================================
original (``vision_model``, ``mlp1``,          native ``InternVLForConditionalGeneration``
``language_model``)
============================================  =============================================
``vision_model.embeddings.class_embedding``    ``model.vision_tower.embeddings.cls_token``
``...embeddings.position_embedding``           ``...embeddings.position_embeddings``
``...embeddings.patch_embedding.*``            ``...embeddings.patch_embeddings.projection.*``
``...encoder.layers.N.attn.qkv.*`` (fused)     ``...encoder.layer.N.attention.{q,k,v}_proj.*``
``...attn.proj.*`` / ``attn.{q,k}_norm.*``     ``...attention.projection_layer.*`` / same
``...ls1`` / ``ls2``                           ``...lambda_1`` / ``lambda_2``
``...norm1`` / ``norm2``                       ``...layernorm_before`` / ``layernorm_after``
``mlp1.0`` / ``mlp1.1`` / ``mlp1.3``           ``model.multi_modal_projector.{layer_norm,
                                               linear_1, linear_2}``
``language_model.model.*`` (Qwen2 / Llama)     ``model.language_model.*``
``language_model.lm_head.weight``              ``lm_head.weight``
InternLM2: ``tok_embeddings``, ``wqkv``        Llama: ``embed_tokens``, ``q/k/v_proj`` (split
(grouped per KV head), ``wo``, ``w1/w2/w3``,   per KV group), ``o_proj``, ``gate/down/up``,
``attention_norm``, ``ffn_norm``, ``output``   ``input_layernorm``, ``post_attention_layernorm``,
                                               ``lm_head``
============================================  =============================================

InternLM2 (InternVL2.5-8B) is hosted as a Llama model, as transformers' own conversion
does: it is Llama with fused projections and other names. Rotary ``inv_freq`` buffers that
old checkpoints saved are the only keys dropped; any other unknown key is an error.
"""
import json
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional, Tuple

import torch

from .checkpoint_safety import register_checkpoint_safe_globals

__all__ = ['load_state_dict_files', 'internvl_config_from_original',
           'convert_internvl_state_dict', 'split_internlm2_wqkv', 'ConversionReport',
           'is_internlm2_sentencepiece_folder', 'convert_internlm2_tokenizer']

#: Keys the conversion drops on purpose, with the reason (reported).
DROPPED_PATTERNS = {
    r'.*rotary_emb\.inv_freq$': 'rotary frequencies are recomputed, not loaded',
}

_VISION_LAYER_RULES = (
    (r'^attn\.proj\.', 'attention.projection_layer.'),
    (r'^attn\.(q_norm|k_norm)\.', r'attention.\1.'),
    (r'^ls1$', 'lambda_1'),
    (r'^ls2$', 'lambda_2'),
    (r'^norm1\.', 'layernorm_before.'),
    (r'^norm2\.', 'layernorm_after.'),
    (r'^mlp\.(fc1|fc2)\.', r'mlp.\1.'),
)

_INTERNLM2_LAYER_RULES = (
    (r'^attention\.wo\.', 'self_attn.o_proj.'),
    (r'^feed_forward\.w1\.', 'mlp.gate_proj.'),
    (r'^feed_forward\.w2\.', 'mlp.down_proj.'),
    (r'^feed_forward\.w3\.', 'mlp.up_proj.'),
    (r'^attention_norm\.', 'input_layernorm.'),
    (r'^ffn_norm\.', 'post_attention_layernorm.'),
)

_PROJECTOR = {'0': 'layer_norm', '1': 'linear_1', '3': 'linear_2'}


class ConversionReport:
    """What a conversion did: renamed, split and dropped keys, and what it refused."""

    def __init__(self) -> None:
        self.renamed = 0
        self.split: List[str] = []
        self.dropped: Dict[str, str] = {}
        self.unknown: List[str] = []

    def summary(self) -> str:
        lines = [f'renamed {self.renamed} keys, split {len(self.split)} fused projections, '
                 f'dropped {len(self.dropped)}']
        for key, why in sorted(self.dropped.items())[:20]:
            lines.append(f'  dropped {key}: {why}')
        return '\n'.join(lines)


def load_state_dict_files(path: str) -> Dict[str, torch.Tensor]:
    """Read a checkpoint folder (safetensors / ``pytorch_model*.bin`` shards) or one file.

    ``.bin`` / ``.pth`` files are read with ``weights_only=True`` (with the MMEngine
    checkpoint allow-list registered); an MMEngine / xtuner checkpoint's ``state_dict`` (or
    ``module``) entry is unwrapped.
    """
    if osp.isdir(path):
        names = sorted(os.listdir(path))
        files = [n for n in names if n.endswith('.safetensors')] or \
            [n for n in names if re.match(r'pytorch_model.*\.bin$', n)]
        if not files:
            raise FileNotFoundError(f'{path}: no *.safetensors or pytorch_model*.bin files')
        state: Dict[str, torch.Tensor] = {}
        for name in files:
            state.update(load_state_dict_files(osp.join(path, name)))
        return state
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    # MMEngine checkpoints also hold their message hub (HistoryBuffer, NumPy scalars).
    register_checkpoint_safe_globals()
    obj = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'module', 'model'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: expected a state dict, got {type(obj).__name__}')
    return dict(obj)


def split_internlm2_wqkv(wqkv: torch.Tensor, num_heads: int, num_kv_heads: int,
                         head_dim: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """InternLM2's fused ``wqkv`` -> Llama's q, k, v weights.

    InternLM2 lays the rows out per KV group: for each of the ``num_kv_heads`` groups,
    ``num_heads / num_kv_heads`` query heads, then one key head, then one value head.

    Args:
        wqkv: ((num_heads + 2 * num_kv_heads) * head_dim, hidden).

    Returns:
        q (num_heads * head_dim, hidden), k and v (num_kv_heads * head_dim, hidden).
    """
    groups = num_heads // num_kv_heads
    hidden = wqkv.shape[-1]
    qkv = wqkv.reshape(num_kv_heads, groups + 2, head_dim, hidden)
    q = qkv[:, :groups].reshape(-1, hidden)
    k = qkv[:, -2].reshape(-1, hidden)
    v = qkv[:, -1].reshape(-1, hidden)
    return q.contiguous(), k.contiguous(), v.contiguous()


def _rope_parameters(llm: dict) -> dict:
    params = {'rope_type': 'default', 'rope_theta': float(llm.get('rope_theta', 10000.0))}
    scaling = llm.get('rope_scaling') or None
    if scaling:
        params['rope_type'] = scaling.get('rope_type', scaling.get('type', 'default'))
        params.update({k: v for k, v in scaling.items() if k not in ('type', 'rope_type')})
    return params


def internvl_config_from_original(original: dict, image_token_id: int) -> dict:
    """``InternVLConfig`` keyword arguments from an original ``config.json`` dict.

    Args:
        original: The remote-code ``InternVLChatConfig`` as a dict (``llm_config``,
            ``vision_config``, ``downsample_ratio``, ``select_layer``...).
        image_token_id: Id of ``<IMG_CONTEXT>`` in the checkpoint's tokenizer.
    """
    llm, vision = dict(original['llm_config']), dict(original['vision_config'])
    arch = (llm.get('architectures') or [''])[0]
    if arch.startswith('InternLM2') or llm.get('model_type') == 'internlm2':
        text = dict(model_type='llama', attention_bias=bool(llm.get('bias', False)),
                    mlp_bias=False)
    elif arch.startswith('Qwen2') or llm.get('model_type') == 'qwen2':
        text = dict(model_type='qwen2', use_sliding_window=False)
    elif arch.startswith('Llama') or llm.get('model_type') == 'llama':
        text = dict(model_type='llama')
    else:
        raise ValueError(f'unsupported InternVL language model {arch or llm.get("model_type")!r}'
                         '; supported: Qwen2, InternLM2, Llama')
    for key in ('hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
                'num_key_value_heads', 'max_position_embeddings', 'rms_norm_eps', 'vocab_size',
                'hidden_act', 'bos_token_id', 'eos_token_id', 'pad_token_id'):
        if llm.get(key) is not None:
            text[key] = llm[key]
    text['rope_parameters'] = _rope_parameters(llm)
    text['tie_word_embeddings'] = bool(llm.get('tie_word_embeddings', False))
    vision_cfg = dict(
        hidden_size=vision['hidden_size'], intermediate_size=vision['intermediate_size'],
        num_hidden_layers=vision['num_hidden_layers'],
        num_attention_heads=vision['num_attention_heads'],
        image_size=vision.get('image_size', 448), patch_size=vision.get('patch_size', 14),
        attention_bias=bool(vision.get('qkv_bias', True)),
        use_qk_norm=bool(vision.get('qk_normalization', False)),
        norm_type=vision.get('norm_type', 'layer_norm'),
        layer_norm_eps=vision.get('layer_norm_eps', 1e-6),
        hidden_act=vision.get('hidden_act', 'gelu'),
        layer_scale_init_value=vision.get('initializer_factor', 0.1),
        use_absolute_position_embeddings=True, use_mean_pooling=True)
    return dict(vision_config=vision_cfg, text_config=text,
                downsample_ratio=original.get('downsample_ratio', 0.5),
                vision_feature_layer=original.get('select_layer', -1),
                image_token_id=image_token_id, projector_hidden_act='gelu',
                tie_word_embeddings=text['tie_word_embeddings'])


def _vision_key(rest: str, tensor: torch.Tensor, out: Dict[str, torch.Tensor],
                report: ConversionReport) -> bool:
    prefix = 'model.vision_tower.'
    simple = {'embeddings.class_embedding': 'embeddings.cls_token',
              'embeddings.position_embedding': 'embeddings.position_embeddings'}
    if rest in simple:
        out[prefix + simple[rest]] = tensor
        return True
    m = re.match(r'^embeddings\.patch_embedding\.(weight|bias)$', rest)
    if m:
        out[f'{prefix}embeddings.patch_embeddings.projection.{m.group(1)}'] = tensor
        return True
    m = re.match(r'^encoder\.layers\.(\d+)\.(.+)$', rest)
    if not m:
        return False
    layer, sub = m.groups()
    base = f'{prefix}encoder.layer.{layer}.'
    qkv = re.match(r'^attn\.qkv\.(weight|bias)$', sub)
    if qkv:
        dim = tensor.shape[0] // 3
        for i, name in enumerate(('q_proj', 'k_proj', 'v_proj')):
            out[f'{base}attention.{name}.{qkv.group(1)}'] = tensor[i * dim:(i + 1) * dim]
        report.split.append(f'vision_model.{rest}')
        return True
    for pattern, repl in _VISION_LAYER_RULES:
        if re.match(pattern, sub):
            out[base + re.sub(pattern, repl, sub)] = tensor
            return True
    return False


def _internlm2_key(rest: str, tensor: torch.Tensor, out: Dict[str, torch.Tensor],
                   text_cfg: dict, report: ConversionReport) -> bool:
    if rest == 'output.weight':
        out['lm_head.weight'] = tensor
        return True
    if rest == 'model.tok_embeddings.weight':
        out['model.language_model.embed_tokens.weight'] = tensor
        return True
    if rest == 'model.norm.weight':
        out['model.language_model.norm.weight'] = tensor
        return True
    m = re.match(r'^model\.layers\.(\d+)\.(.+)$', rest)
    if not m:
        return False
    layer, sub = m.groups()
    base = f'model.language_model.layers.{layer}.'
    if sub == 'attention.wqkv.weight':
        heads, kv = text_cfg['num_attention_heads'], text_cfg['num_key_value_heads']
        head_dim = text_cfg.get('head_dim') or text_cfg['hidden_size'] // heads
        for name, part in zip(('q_proj', 'k_proj', 'v_proj'),
                              split_internlm2_wqkv(tensor, heads, kv, head_dim)):
            out[f'{base}self_attn.{name}.weight'] = part
        report.split.append(f'language_model.{rest}')
        return True
    for pattern, repl in _INTERNLM2_LAYER_RULES:
        if re.match(pattern, sub):
            out[base + re.sub(pattern, repl, sub)] = tensor
            return True
    return False


def convert_internvl_state_dict(
        state: Dict[str, torch.Tensor], text_cfg: dict,
        internlm2: Optional[bool] = None) -> Tuple[Dict[str, torch.Tensor], ConversionReport]:
    """Rename / split an original-layout InternVL state dict into the native layout.

    Args:
        state: Keys ``vision_model.*``, ``mlp1.*``, ``language_model.*``.
        text_cfg: The native text config as a dict (heads, KV heads, hidden size, head_dim).
        internlm2: The language model uses InternLM2 names; None detects it from the keys.

    Returns:
        ``(native_state, report)``. Raises ``ValueError`` listing every key it cannot map.
    """
    if internlm2 is None:
        internlm2 = any('.attention.wqkv.' in k or k.endswith('tok_embeddings.weight')
                        for k in state)
    out: Dict[str, torch.Tensor] = {}
    report = ConversionReport()
    for key, tensor in state.items():
        dropped = [why for pattern, why in DROPPED_PATTERNS.items() if re.match(pattern, key)]
        if dropped:
            report.dropped[key] = dropped[0]
            continue
        done = False
        if key.startswith('vision_model.'):
            done = _vision_key(key[len('vision_model.'):], tensor, out, report)
        elif key.startswith('mlp1.'):
            m = re.match(r'^mlp1\.(\d+)\.(weight|bias)$', key)
            if m and m.group(1) in _PROJECTOR:
                out[f'model.multi_modal_projector.{_PROJECTOR[m.group(1)]}.{m.group(2)}'] = tensor
                done = True
        elif key.startswith('language_model.'):
            rest = key[len('language_model.'):]
            if internlm2:
                done = _internlm2_key(rest, tensor, out, text_cfg, report)
            elif rest == 'lm_head.weight':
                out['lm_head.weight'] = tensor
                done = True
            elif rest.startswith('model.'):
                out['model.language_model.' + rest[len('model.'):]] = tensor
                done = True
        if done:
            report.renamed += 1
        else:
            report.unknown.append(key)
    if report.unknown:
        raise ValueError(f'{len(report.unknown)} keys of the original InternVL checkpoint have '
                         'no native counterpart:\n    ' + '\n    '.join(report.unknown[:50]))
    return out, report


def read_original_config(folder: str) -> dict:
    with open(osp.join(folder, 'config.json'), encoding='utf-8') as f:
        config = json.load(f)
    if 'llm_config' not in config or 'vision_config' not in config:
        raise ValueError(f'{folder}/config.json has no llm_config / vision_config: not an '
                         'original (remote-code) InternVL checkpoint')
    return config


def is_internlm2_sentencepiece_folder(folder: str) -> bool:
    """Whether ``folder`` holds InternLM2's remote-code SentencePiece tokenizer.

    That is a ``tokenizer.model`` with no ``tokenizer.json``, and a ``tokenizer_config.json``
    naming ``InternLM2Tokenizer`` (``tokenizer_class`` or ``auto_map``).
    """
    config_path = osp.join(folder, 'tokenizer_config.json')
    if (not osp.isfile(osp.join(folder, 'tokenizer.model')) or
            osp.isfile(osp.join(folder, 'tokenizer.json')) or not osp.isfile(config_path)):
        return False
    with open(config_path, encoding='utf-8') as f:
        config = json.load(f)
    names = [str(config.get('tokenizer_class', ''))]
    names += [str(v) for v in (config.get('auto_map') or {}).get('AutoTokenizer', []) if v]
    return any('InternLM2Tokenizer' in name for name in names)


def convert_internlm2_tokenizer(src: str, out: str) -> List[str]:
    """Write a fast ``tokenizer.json`` for InternLM2's SentencePiece tokenizer in ``src``.

    InternLM2's ``InternLM2Tokenizer`` (remote code, ``tokenization_internlm2.py`` of
    ``internlm/internlm2_5-7b-chat``) encodes each stretch of text between added tokens with
    ``SentencePieceProcessor.encode`` (BPE with byte fallback; ``<unk>`` = 0, ``<s>`` = 1,
    ``</s>`` = 2) and prepends ``<s>`` when ``add_bos_token`` (``True`` in the release's
    ``tokenizer_config.json``). transformers' SentencePiece conversion
    (``SpmConverter.build_tokenizer_from_spm_proto``) follows the model's own normaliser
    settings; ``legacy=True`` gives the dummy prefix to every stretch, as the per-stretch
    ``encode`` does. The added tokens of ``added_tokens_decoder`` keep their ids (InternVL's
    ``<img>`` ... ``</box>`` follow the SentencePiece vocabulary).

    Args:
        src: Folder with ``tokenizer.model`` and ``tokenizer_config.json`` (and optionally
            ``special_tokens_map.json``).
        out: Folder to write ``tokenizer.json``, ``tokenizer_config.json`` (no ``auto_map``,
            ``tokenizer_class: PreTrainedTokenizerFast``) and ``special_tokens_map.json``.

    Returns:
        The names of the files written.

    Raises:
        ValueError: ``added_tokens_decoder`` has a gap or a token whose id disagrees with
            the SentencePiece vocabulary.
    """
    from tokenizers import AddedToken, processors
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    with open(osp.join(src, 'tokenizer_config.json'), encoding='utf-8') as f:
        config = json.load(f)
    proto = import_protobuf().ModelProto()
    with open(osp.join(src, 'tokenizer.model'), 'rb') as f:
        proto.ParseFromString(f.read())
    if proto.trainer_spec.model_type != 2:
        raise ValueError(f'{src}/tokenizer.model: SentencePiece model_type '
                         f'{proto.trainer_spec.model_type}, expected 2 (BPE) as InternLM2 has')
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    tokenizer = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=True)

    decoder = {int(i): spec for i, spec in (config.get('added_tokens_decoder') or {}).items()}
    for token_id in sorted(decoder):
        spec = decoder[token_id]
        content = spec['content'] if isinstance(spec, dict) else str(spec)
        spec = spec if isinstance(spec, dict) else {}
        if token_id < len(proto.pieces) and proto.pieces[token_id].piece != content:
            raise ValueError(f'{src}/tokenizer_config.json: added token {content!r} has id '
                             f'{token_id}, but tokenizer.model has '
                             f'{proto.pieces[token_id].piece!r} there')
        if token_id >= len(proto.pieces) and token_id != tokenizer.get_vocab_size():
            raise ValueError(f'{src}/tokenizer_config.json: added token {content!r} has id '
                             f'{token_id}, but the next free id is '
                             f'{tokenizer.get_vocab_size()}; added_tokens_decoder has a gap')
        tokenizer.add_special_tokens([AddedToken(
            content, single_word=spec.get('single_word', False),
            lstrip=spec.get('lstrip', False), rstrip=spec.get('rstrip', False),
            normalized=spec.get('normalized', False), special=spec.get('special', True))])
        got = tokenizer.token_to_id(content)
        if got != token_id:
            raise ValueError(f'{src}/tokenizer_config.json: added token {content!r} got id '
                             f'{got} instead of {token_id}')

    bos = config.get('bos_token') or '<s>'
    bos = bos['content'] if isinstance(bos, dict) else bos
    eos = config.get('eos_token') or '</s>'
    eos = eos['content'] if isinstance(eos, dict) else eos
    add_bos = config.get('add_bos_token', True)
    add_eos = config.get('add_eos_token', False)
    # InternLM2Tokenizer.build_inputs_with_special_tokens: [bos] + a + [eos] (+ b)
    single = ([f'{bos}:0'] if add_bos else []) + ['$A:0'] + ([f'{eos}:0'] if add_eos else [])
    specials = [(t, vocab[t]) for t, on in ((bos, add_bos), (eos, add_eos)) if on]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=' '.join(single), pair=' '.join(single + ['$B:1']), special_tokens=specials)

    os.makedirs(out, exist_ok=True)
    tokenizer.save(osp.join(out, 'tokenizer.json'))
    fast_config = {k: v for k, v in config.items()
                   if k not in ('auto_map', 'tokenizer_class', 'tokenizer_file', 'legacy')}
    fast_config['tokenizer_class'] = 'PreTrainedTokenizerFast'
    with open(osp.join(out, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(fast_config, f, indent=2, ensure_ascii=False)
    written = ['tokenizer.json', 'tokenizer_config.json']
    if osp.isfile(osp.join(src, 'special_tokens_map.json')):
        shutil.copy2(osp.join(src, 'special_tokens_map.json'),
                     osp.join(out, 'special_tokens_map.json'))
        written.append('special_tokens_map.json')
    return written
