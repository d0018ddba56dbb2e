"""Export a trained DeSa2VA / Sa2VA model to a self-contained folder, and load it back.

This is our own folder format: a DeSa2VA model (two SAM-2 decoders, the decoupling neck,
the fusion) has no counterpart in Sa2VA's code. The Sa2VA baseline can also be exported in
the layout of Sa2VA's own releases, which Sa2VA's ``Sa2VAChatModel.from_pretrained`` loads
(:mod:`desa2va_mm.utils.sa2va_release`, ``tools/model_converters/sa2va_baseline_to_hf.py``).

Folder layout (``desa2va-export-v1``)::

    <out>/
      desa2va_export.json      format, model type, phase, files, source checkpoint
      desa2va_config.json      the model config (MMEngine dict) the loader builds
      internvl/                native transformers InternVL (``save_pretrained``), LoRA
                               merged into the weights, + the tokenizer with [SEG]
      desa2va_model.safetensors  every other weight: SAM-2 (encoder, prompt encoder,
                               memory) and the seg head (its SAM-2 decoder(s), neck,
                               fusion gate or projection)

The exported config has no LoRA, no gradient checkpointing and no training-only modules
(the seg head's adversarial discriminators and CLUB estimator): :func:`load_desa2va_export`
builds an inference model that the Inferencer can use directly, without the training code
paths. Loading is strict: any missing, unexpected or mis-shaped key is an error. A folder
written before the seg head was one module (head keys at the top of the config and the
weights) is read in today's layout.
"""
import copy
import json
import os
import os.path as osp
from typing import Optional

import torch

__all__ = ['EXPORT_FORMAT', 'merge_lora_', 'export_desa2va', 'load_desa2va_export']

EXPORT_FORMAT = 'desa2va-export-v1'
_MODEL_FILE = 'desa2va_model.safetensors'
_CONFIG_FILE = 'desa2va_config.json'
_META_FILE = 'desa2va_export.json'
_INTERNVL_DIR = 'internvl'
#: Seg-head modules only training uses; not exported.
TRAINING_ONLY = ('adversarial_loss', 'club_loss')
_TRAINING_ONLY_KEYS = tuple(f'seg_head.{m}.' for m in TRAINING_ONLY)


def merge_lora_(module: torch.nn.Module) -> int:
    """Merge every peft LoRA layer into its base layer and unwrap it, in place.

    Returns:
        The number of LoRA layers merged.
    """
    from peft.tuners.lora import LoraLayer
    targets = [(name, m) for name, m in module.named_modules() if isinstance(m, LoraLayer)]
    for name, layer in targets:
        layer.merge(safe_merge=True)
        parent_name, _, child = name.rpartition('.')
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, layer.get_base_layer())
    return len(targets)


def _to_plain(value):
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def export_desa2va(model, model_cfg: dict, out_dir: str, *,
                   source: Optional[str] = None) -> dict:
    """Write ``model`` (LoRA merged) to ``out_dir``; returns the export metadata.

    Args:
        model: A built ``DeSa2VA`` with its trained weights loaded. Its LoRA layers are
            merged in place.
        model_cfg: The config dict the model was built from (``cfg.model``).
        source: Where the weights came from (a checkpoint path), recorded in the metadata.
    """
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    mllm = model.mllm
    merged = merge_lora_(mllm.model)
    hf_dir = osp.join(out_dir, _INTERNVL_DIR)
    mllm.model.save_pretrained(hf_dir, safe_serialization=True)
    mllm.tokenizer.save_pretrained(hf_dir)

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if not k.startswith(('mllm.', ) + _TRAINING_ONLY_KEYS)}
    save_file(state, osp.join(out_dir, _MODEL_FILE), metadata={'format': EXPORT_FORMAT})

    cfg = copy.deepcopy(_to_plain(model_cfg))
    cfg['mllm'].update(pretrained=_INTERNVL_DIR, model_config=None, lora=None,
                       gradient_checkpointing=False,
                       tokenizer=dict(type='HFPretrainedTokenizer', path=_INTERNVL_DIR))
    cfg['grounding_encoder']['checkpoint'] = None
    for name in TRAINING_ONLY:
        if name in cfg['seg_head']:
            cfg['seg_head'][name] = None
    # The heads' weights are in the file: no copy from SAM-2's template decoder needed.
    cfg['init_head_from_sam2'] = False
    with open(osp.join(out_dir, _CONFIG_FILE), 'w', encoding='utf-8') as f:
        json.dump(cfg, f, indent=2)
    meta = dict(format=EXPORT_FORMAT, model_type=cfg.get('type', 'DeSa2VA'),
                seg_head=cfg['seg_head'].get('type'),
                decoupled=cfg['seg_head'].get('type') == 'DecoupledSegHead',
                train_phase=cfg.get('train_phase'),
                lora_layers_merged=merged, files=[_CONFIG_FILE, _MODEL_FILE, _INTERNVL_DIR],
                source=source)
    with open(osp.join(out_dir, _META_FILE), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2)
    return meta


def load_desa2va_export(folder: str, device: str = 'cpu', torch_dtype: Optional[str] = None):
    """Build the exported model from ``folder`` and load its weights strictly.

    Args:
        folder: An :func:`export_desa2va` folder.
        device: Where to put the model.
        torch_dtype: Override the MLLM weight dtype (e.g. ``'bfloat16'``).

    Returns:
        The ``DeSa2VA`` model in eval mode.
    """
    from safetensors.torch import load_file

    from desa2va_mm.models.segmentors.checkpoint_layout import (upgrade_model_config,
                                                                upgrade_seg_head_keys)
    from desa2va_mm.registry import MODELS
    from mmengine.registry import DefaultScope
    from .state_dict_check import check_state_dict

    meta_path = osp.join(folder, _META_FILE)
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'{folder} is not a DeSa2VA export: no {_META_FILE}')
    with open(meta_path, encoding='utf-8') as f:
        meta = json.load(f)
    if meta.get('format') != EXPORT_FORMAT:
        raise ValueError(f'{meta_path}: format {meta.get("format")!r}, expected {EXPORT_FORMAT!r}')
    with open(osp.join(folder, _CONFIG_FILE), encoding='utf-8') as f:
        cfg = upgrade_model_config(json.load(f))
    hf_dir = osp.join(folder, _INTERNVL_DIR)
    cfg['mllm']['pretrained'] = hf_dir
    cfg['mllm']['tokenizer']['path'] = hf_dir
    if torch_dtype is not None:
        cfg['mllm']['torch_dtype'] = torch_dtype
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg)
    state = upgrade_seg_head_keys(load_file(osp.join(folder, _MODEL_FILE)))[0]
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith('mllm.')}
    check_state_dict(expected, state, source=osp.join(folder, _MODEL_FILE))
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()
