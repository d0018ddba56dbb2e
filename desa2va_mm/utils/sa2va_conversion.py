"""Sa2VA checkpoints -> our Sa2VA baseline / DeSa2VA phase-1/2 initialisation.

Sa2VA ships two layouts:

* the Hugging Face folder (``Sa2VAChatModel``, LoRA merged): ``vision_model.*``, ``mlp1.*``,
  ``language_model.*`` (original InternVL names), ``grounding_encoder.sam2_model.*`` (its
  layer-scale ``gamma`` saved as ``g_weight``), ``text_hidden_fcs.{0,2}.*``;
* the training ``.pth`` (xtuner): the same under ``mllm.model.``, the LLM wrapped by peft
  (``language_model.base_model.model.*`` with ``lora_A`` / ``lora_B`` and
  ``modules_to_save``), usually holding only what trained.

Both become our state dict: InternVL keys through :mod:`internvl_conversion` under
``mllm.model.`` (LoRA adapters kept as LoRA when present: peft's names are ours too; a
merged LLM loads into ``base_layer`` and our fresh LoRA starts at B = 0, i.e. as the
identity), ``grounding_encoder.sam2_model.*`` -> ``grounding_encoder.sam2.*``, and SAM-2's
mask decoder into the baseline's ``seg_head.mask_head`` or into both DeSa2VA decoders
(``seg_head.text_head`` = D_t and ``seg_head.visual_head`` = D_v start from Sa2VA's
decoder). Sa2VA's ``text_hidden_fcs`` maps to the baseline's ``seg_head.text_hidden_fcs``;
DeSa2VA has no counterpart (its ``W_t`` / ``W_v`` start fresh) and the report says so.
"""
import re
from typing import Dict, Iterable, List, Optional, Tuple

import torch

from .internvl_conversion import convert_internvl_state_dict

__all__ = ['convert_sa2va_state_dict', 'adapt_to_model_keys', 'NEW_IN_DESA2VA']

#: DeSa2VA modules with no Sa2VA counterpart (start from their own initialisation).
NEW_IN_DESA2VA = ('seg_head.neck.', 'seg_head.fusion.', 'seg_head.adversarial_loss.',
                  'seg_head.club_loss.')

_LORA = re.compile(r'^(.*)\.(lora_A|lora_B)\.default\.weight$')


def _strip_prefixes(state: Dict[str, torch.Tensor],
                    dropped: Dict[str, str]) -> Dict[str, torch.Tensor]:
    """xtuner / peft wrappers -> plain original-InternVL names (LoRA suffixes kept)."""
    out = {}
    for key, value in state.items():
        new = key
        if new.startswith('mllm.model.'):
            new = new[len('mllm.model.'):]
        new = new.replace('language_model.base_model.model.', 'language_model.')
        if '.original_module.' in new:
            dropped[key] = 'peft modules_to_save keeps the trained copy; the original is stale'
            continue
        new = new.replace('.modules_to_save.default.', '.')
        new = new.replace('.base_layer.', '.')
        if new.endswith('.g_weight'):
            # Sa2VA's HF export renames SAM-2's layer-scale `gamma` (transformers' loader
            # would rewrite *.gamma into *.weight); back to sam2's name.
            new = new[:-len('.g_weight')] + '.gamma'
        out[new] = value
    return out


def _convert_mllm(mllm: Dict[str, torch.Tensor], text_cfg: dict,
                  internlm2: Optional[bool]) -> Tuple[Dict[str, torch.Tensor], object]:
    """Original InternVL names (+ LoRA suffixes) -> native names (+ LoRA suffixes)."""
    plain = {k: v for k, v in mllm.items() if not _LORA.match(k)}
    lora = {k: v for k, v in mllm.items() if _LORA.match(k)}
    if internlm2 is None:
        internlm2 = any('.attention.wqkv' in k or 'tok_embeddings' in k for k in mllm)
    out, report = convert_internvl_state_dict(plain, text_cfg, internlm2=internlm2)
    for key, value in lora.items():
        base, which = _LORA.match(key).groups()
        if which == 'lora_B':
            # B's rows are the layer's outputs: split them like the fused weight's rows.
            converted, _ = convert_internvl_state_dict({f'{base}.weight': value}, text_cfg,
                                                       internlm2=internlm2)
            for new_key, part in converted.items():
                out[new_key[:-len('.weight')] + '.lora_B.default.weight'] = part
        else:
            # A reads the layer's input: every split output shares it.
            names, _ = convert_internvl_state_dict(
                {f'{base}.weight': _probe_like(base, text_cfg, internlm2)}, text_cfg,
                internlm2=internlm2)
            for new_key in names:
                out[new_key[:-len('.weight')] + '.lora_A.default.weight'] = value
    return out, report


def _probe_like(base: str, text_cfg: dict, internlm2: bool) -> torch.Tensor:
    """A stand-in weight with the fused layer's row count, only to learn the new names."""
    if base.endswith('attention.wqkv') and internlm2:
        heads, kv = text_cfg['num_attention_heads'], text_cfg['num_key_value_heads']
        head_dim = text_cfg.get('head_dim') or text_cfg['hidden_size'] // heads
        rows = (heads + 2 * kv) * head_dim
    elif base.endswith('attn.qkv'):
        rows = 3
    else:
        rows = 1
    return torch.empty(rows, 1)


def adapt_to_model_keys(state: Dict[str, torch.Tensor],
                        model_keys: Iterable[str]) -> Dict[str, torch.Tensor]:
    """Put plain ``X.weight`` into ``X.base_layer.weight`` where the model wraps X with LoRA."""
    model_keys = set(model_keys)
    out = {}
    for key, value in state.items():
        if key not in model_keys:
            head, _, leaf = key.rpartition('.')
            wrapped = f'{head}.base_layer.{leaf}'
            if wrapped in model_keys:
                key = wrapped
        out[key] = value
    return out


def convert_sa2va_state_dict(
        state: Dict[str, torch.Tensor],
        *,
        target: str,
        text_cfg: dict,
        internlm2: Optional[bool] = None) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Convert a Sa2VA state dict.

    Args:
        state: Sa2VA keys (HF folder or training ``.pth`` layout).
        target: ``'sa2va'`` (our baseline) or ``'desa2va'`` (phase-1/2 initialisation).
        text_cfg: Native text config dict of the InternVL (heads, KV heads, hidden size).
        internlm2: The LLM uses InternLM2 names; None detects it.

    Returns:
        ``(our_state, dropped)``: our state dict (plain names; see
        :func:`adapt_to_model_keys`) and ``{sa2va_key: reason}`` for every key left out.
        Raises ``ValueError`` on any key it cannot place.
    """
    if target not in ('sa2va', 'desa2va'):
        raise ValueError(f"target must be 'sa2va' or 'desa2va', got {target!r}")
    dropped: Dict[str, str] = {}
    plain = _strip_prefixes(state, dropped)
    mllm, sam2, fcs, unknown = {}, {}, {}, []
    for key, value in plain.items():
        if key.startswith(('vision_model.', 'mlp1.', 'language_model.')):
            mllm[key] = value
        elif key.startswith('grounding_encoder.sam2_model.'):
            sam2[key[len('grounding_encoder.sam2_model.'):]] = value
        elif key.startswith('text_hidden_fcs.'):
            fcs[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'{len(unknown)} Sa2VA keys have no place in our model:\n    '
                         + '\n    '.join(sorted(unknown)[:50]))
    out: Dict[str, torch.Tensor] = {}
    if mllm:
        converted, report = _convert_mllm(mllm, text_cfg, internlm2)
        out.update({'mllm.model.' + k: v for k, v in converted.items()})
        dropped.update(report.dropped)
    heads = ('mask_head',) if target == 'sa2va' else ('text_head', 'visual_head')
    for key, value in sam2.items():
        out['grounding_encoder.sam2.' + key] = value
        if key.startswith('sam_mask_decoder.'):
            for head in heads:
                out[f'seg_head.{head}.decoder.' + key[len('sam_mask_decoder.'):]] = value
    for key, value in fcs.items():
        m = re.match(r'^text_hidden_fcs\.(\d+)\.(weight|bias)$', key)
        if m is None:
            raise ValueError(f'unexpected Sa2VA projection key {key!r}')
        if target == 'sa2va':
            out[f'seg_head.text_hidden_fcs.mlp.{m.group(1)}.{m.group(2)}'] = value
        else:
            dropped[key] = ('Sa2VA text_hidden_fcs (H -> H -> C MLP) has no DeSa2VA '
                            'counterpart: W_t / W_v start fresh')
    return out, dropped


def explained_missing(missing: List[str], target: str, source_has_lora: bool,
                      partial: bool) -> Dict[str, str]:
    """Reasons for model keys a converted Sa2VA state does not provide (else none)."""
    reasons = {}
    for key in missing:
        if target == 'desa2va' and key.startswith(NEW_IN_DESA2VA):
            reasons[key] = 'new in DeSa2VA (own initialisation)'
        elif '.lora_' in key and not source_has_lora:
            reasons[key] = 'LoRA merged in the Sa2VA weights: fresh adapters (B = 0)'
        elif partial and key.startswith(('mllm.', 'grounding_encoder.')):
            reasons[key] = 'not in a trainable-only .pth: comes from the pretrained files'
    return reasons
