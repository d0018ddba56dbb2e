"""Read checkpoints and configs of the earlier ``DeSa2VA`` layout (heads at the top).

Before the segmentation head was one module (``seg_head``), its parts were attributes of
the model itself: ``text_hidden_fcs.*`` and ``mask_head.*`` (Sa2VA), ``neck.*``,
``text_head.*``, ``visual_head.*``, ``fusion.*``, ``adversarial_loss.*``, ``club_loss.*``
(DeSa2VA). Such a checkpoint loads unchanged: ``DeSa2VA`` registers
:func:`upgrade_on_load`, which moves those keys under ``seg_head.`` (MMEngine's non-strict
``load_from`` would otherwise skip them silently and train from fresh heads). A model
config of that layout (an export folder's ``desa2va_config.json``) becomes today's with
:func:`upgrade_model_config`, which also moves the re-prompting settings that were seg-head
arguments (``reprompt_iters_train`` / ``reprompt_iters_test`` / ``reprompt_iou_threshold``)
to the model's ``train_cfg`` / ``test_cfg``. Those settings were never tensors: checkpoints
need no change for them.
"""
import copy
from typing import Dict, List, Mapping, Tuple

from mmengine.logging import print_log

from ..seg_heads.base_seg_head import REMOVED_ARGUMENTS

__all__ = ['SEG_HEAD_MODULES', 'upgrade_seg_head_keys', 'upgrade_on_load',
           'upgrade_model_config']

#: Top-level modules of the earlier layout that now live in ``seg_head``.
SEG_HEAD_MODULES = ('text_hidden_fcs', 'mask_head', 'neck', 'text_head', 'visual_head',
                    'fusion', 'adversarial_loss', 'club_loss')
#: Model config keys of the earlier layout that are ``DecoupledSegHead`` arguments.
_DECOUPLED_KEYS = ('neck', 'text_head', 'visual_head', 'fusion', 'adversarial_loss',
                   'club_loss', 'mask_loss_weights', 'num_point_samples', 'loss_mask',
                   'loss_dice')


def upgrade_seg_head_keys(state_dict: Mapping, prefix: str = '') -> Tuple[Dict, List[str]]:
    """Move earlier-layout head keys under ``seg_head.``.

    Args:
        state_dict: A model state dict (keys under ``prefix``).
        prefix: The model's prefix inside ``state_dict`` (``''`` for a plain model).

    Returns:
        The state dict with the keys moved (order kept) and the moved keys' old names.
    """
    starts = tuple(f'{prefix}{m}.' for m in SEG_HEAD_MODULES)
    out, moved = {}, []
    for key, value in state_dict.items():
        if key.startswith(starts):
            moved.append(key)
            key = f'{prefix}seg_head.{key[len(prefix):]}'
        out[key] = value
    return out, moved


def upgrade_on_load(module, state_dict: dict, prefix: str, *args, **kwargs) -> None:
    """``load_state_dict`` pre-hook: :func:`upgrade_seg_head_keys` in place, logged once."""
    upgraded, moved = upgrade_seg_head_keys(state_dict, prefix)
    if not moved:
        return
    state_dict.clear()
    state_dict.update(upgraded)
    print_log(f'{type(module).__name__}: checkpoint of the earlier layout: moved {len(moved)} '
              f'head entries (e.g. {moved[0]}) under seg_head.', logger='current')


def _move_reprompt_settings(cfg: dict, source: dict) -> None:
    """Pop the earlier seg-head re-prompting arguments from ``source`` into ``cfg``'s
    ``train_cfg`` / ``test_cfg`` (``model.test_cfg.reprompt_iters`` and so on)."""
    for old, new in REMOVED_ARGUMENTS.items():
        if old in source:
            _, kind, key = new.split('.')
            settings = dict(cfg.get(kind) or {})
            settings[key] = source.pop(old)
            cfg[kind] = settings


def upgrade_model_config(cfg: dict) -> dict:
    """A ``DeSa2VA`` config of an earlier layout -> today's.

    Head keys at the top (no ``seg_head``): ``neck`` set gives a ``DecoupledSegHead`` with
    the neck, heads, fusion and losses; otherwise a ``Sa2VASegHead`` (``seg_projector`` ->
    ``text_hidden_fcs``, ``mask_head``, ``loss_mask``, ``loss_dice``). ``frozen_modules``
    paths into those modules get the ``seg_head.`` prefix. In either layout the
    re-prompting arguments (``reprompt_iters_train`` / ``reprompt_iters_test`` /
    ``reprompt_iou_threshold``) move to ``train_cfg.reprompt_iters`` /
    ``test_cfg.reprompt_iters`` / ``test_cfg.reprompt_iou_threshold``. A config of
    today's layout is returned unchanged (a copy).
    """
    cfg = copy.deepcopy(dict(cfg))
    if 'seg_head' in cfg:
        head = dict(cfg['seg_head'])
        _move_reprompt_settings(cfg, head)
        cfg['seg_head'] = head
        return cfg
    _move_reprompt_settings(cfg, cfg)
    if cfg.get('neck') is not None:
        head = dict(type='DecoupledSegHead')
        keys = _DECOUPLED_KEYS
    else:
        head = dict(type='Sa2VASegHead')
        if cfg.get('seg_projector') is not None:
            head['text_hidden_fcs'] = cfg['seg_projector']
        keys = ('mask_head', 'loss_mask', 'loss_dice')
    head.update({key: cfg[key] for key in keys if cfg.get(key) is not None})
    for key in _DECOUPLED_KEYS + ('seg_projector', 'mask_head'):
        cfg.pop(key, None)
    cfg['seg_head'] = head
    cfg['frozen_modules'] = [
        f'seg_head.{path}' if path.split('.')[0] in SEG_HEAD_MODULES else path
        for path in cfg.get('frozen_modules', ())]
    return cfg
