"""Stage 0 of the tiny configs: SAM-2's own task (a click -> the clicked object's mask)."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel

from desa2va_mm.registry import MODELS
from desa2va_mm.utils.checkpoint_safety import warn_if_unguarded
from desa2va_mm.utils.state_dict_check import raise_on_shape_mismatch
from ..builder import build_in_scope
from ..seg_heads.base_seg_head import (DEFAULT_LOSS_DICE, DEFAULT_LOSS_MASK, build_sam2_head,
                                       sample_points_in_masks, segmentation_losses)


@MODELS.register_module()
class SAM2ClickPretrainer(BaseModel):
    """Teach a from-scratch SAM-2 and the seg head's decoders clicks -> masks.

    Real configs start from a pretrained SAM-2; the tiny configs' SAM-2 starts from random
    weights, so this short stage stands in for SAM-2's own pre-training (docs/design.md
    §10): one positive click, drawn uniformly inside each ground-truth mask, prompts each
    decoder, whose mask is supervised with ``L_mask + L_dice`` (``loss_click_<decoder>``).
    No language is involved (the referring data only provide masks).

    The checkpoint's keys are ``DeSa2VA``'s (``grounding_encoder.*``,
    ``seg_head.<decoder>.*``), so the next stage loads it with ``load_from``; what it
    does not hold (the MLLM, the neck, fusion, the discriminators) keeps that model's own
    initialisation.

    Args:
        grounding_encoder: ``SAM2Grounding`` config (the next stage's).
        mask_heads: ``{attribute: SAM2MaskHead config}`` of the next stage's seg head,
            e.g. ``dict(text_head=..., visual_head=...)`` (DeSa2VA) or
            ``dict(mask_head=...)`` (Sa2VA); the SAM-2 decoder arguments are filled in.
        num_point_samples: Points drawn per mask (the first one is the click).
        init_head_from_sam2: Copy SAM-2's decoder into every head first.
        loss_mask: Per-pixel mask loss (default sigmoid BCE x2.0).
        loss_dice: Dice loss (default x0.5).
        data_preprocessor: ``ReferringDataPreprocessor`` config.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 *,
                 grounding_encoder: dict,
                 mask_heads: Dict[str, dict],
                 num_point_samples: int = 1,
                 init_head_from_sam2: bool = True,
                 loss_mask: Optional[dict] = None,
                 loss_dice: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ReferringDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = build_in_scope(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not mask_heads:
            raise ValueError('SAM2ClickPretrainer needs mask_heads, e.g. '
                             "dict(mask_head=dict(type='SAM2MaskHead'))")
        self.grounding_encoder = build_in_scope(grounding_encoder)
        decoder_kwargs = self.grounding_encoder.mask_decoder_kwargs()
        # Named ``seg_head`` so that the keys are those of DeSa2VA's seg head.
        self.seg_head = nn.ModuleDict({name: build_sam2_head(cfg, decoder_kwargs)
                                       for name, cfg in mask_heads.items()})
        if init_head_from_sam2:
            for head in self.seg_head.values():
                head.init_from_decoder(self.grounding_encoder.mask_decoder)
        self.num_point_samples = num_point_samples
        self.loss_mask = build_in_scope(loss_mask or DEFAULT_LOSS_MASK)
        self.loss_dice = build_in_scope(loss_dice or DEFAULT_LOSS_DICE)
        self.register_load_state_dict_pre_hook(raise_on_shape_mismatch)

    def forward(self, inputs: dict, data_samples: Optional[List[DetDataSample]] = None,
                mode: str = 'tensor'):
        """``'loss'`` -> :meth:`loss`; ``'tensor'`` -> :meth:`click_logits`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.click_logits(inputs, data_samples)[0]
        raise ValueError(f"SAM2ClickPretrainer supports modes 'loss' and 'tensor', got "
                         f'{mode!r} (it only pre-trains: evaluate the model that loads its '
                         'checkpoint)')

    def click_logits(self, inputs: dict, data_samples: List[DetDataSample]):
        """Each decoder's mask of one click inside every ground-truth mask.

        Returns:
            ``{decoder: (N, 1, h', w') logits}`` and the (N, H, W) float ground truth.
        """
        grounding = self.grounding_encoder
        image_feats = grounding.encode_image(inputs['images'])
        counts = [len(s.gt_instances.masks) for s in data_samples]
        device = inputs['images'].device
        image_idx = torch.repeat_interleave(torch.arange(len(counts), device=device),
                                            torch.tensor(counts, device=device))
        gt = torch.cat([s.gt_instances.masks.to_tensor(torch.float32, device)
                        for s in data_samples])
        points = sample_points_in_masks(gt, self.num_point_samples,
                                        grounding.image_size)[::self.num_point_samples]
        sparse = grounding.point_prompts(points[:, None],
                                         torch.ones(len(points), 1, device=device))
        dense = grounding.dense_prompts(len(points))
        logits = {name: head(image_feats, sparse, dense, image_idx)['low_res_logits']
                  for name, head in self.seg_head.items()}
        return logits, gt

    def loss(self, inputs: dict, data_samples: List[DetDataSample]) -> Dict[str, torch.Tensor]:
        """``loss_click_<decoder>`` (``text`` / ``visual`` / ``mask``): ``L_mask + L_dice``."""
        # Once per model: a runner without our checkpoint guards is named (docs/tools.md).
        warn_if_unguarded(self)
        logits, gt = self.click_logits(inputs, data_samples)
        losses = {}
        for name, head_logits in logits.items():
            mask, dice = segmentation_losses(head_logits, gt, self.loss_mask, self.loss_dice)
            branch = name[:-len('_head')] if name.endswith('_head') else name
            losses[f'loss_click_{branch}'] = mask + dice
        return losses
