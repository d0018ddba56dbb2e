"""Sa2VA's segmentation head: one MLP from ``[SEG]`` to one SAM-2 prompt token, one decoder."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from desa2va_mm.registry import MODELS
from ..builder import build_in_scope
from .seg_decode_result import SegDecodeResult
from .base_seg_head import BaseSegHead, build_sam2_head, segmentation_losses


@MODELS.register_module()
class Sa2VASegHead(BaseSegHead):
    """The Sa2VA baseline: ``M = D(F, [pad; pad; text_hidden_fcs(h)])``.

    ``text_hidden_fcs`` (``h: (N, H) -> (N, C)``) gives one sparse prompt token after
    SAM-2's two padding tokens; one SAM-2 decoder (``mask_head``) decodes it. Video frames
    tracked through SAM-2's memory carry the same token (or SAM-2's padding only). Losses
    ``loss_mask`` (BCE) and ``loss_dice``, on sampled points with ``mask_loss_sampler``.

    Attribute names are Sa2VA's (``text_hidden_fcs``), so its checkpoints map key for key
    (``desa2va_mm/utils/sa2va_conversion.py``).

    Args:
        in_channels: H, the MLLM hidden size (set by the segmentor).
        decoder_kwargs: SAM-2 decoder arguments (set by the segmentor).
        text_hidden_fcs: The [SEG] -> prompt mapping (``Sa2VAProjection``; its
            ``in_channels`` / ``out_channels`` default to H and the decoder width C).
        mask_head: The SAM-2 head (``SAM2MaskHead``).
        loss_mask: Per-pixel mask loss (Sa2VA: sigmoid BCE x2.0).
        loss_dice: Dice loss (Sa2VA: x0.5).
        mask_loss_sampler: ``MaskPointSampler`` config (Sa2VA: 12544 points per mask) or
            None (full-pixel losses).
        train_cfg: The model's ``train_cfg``: must be empty (the head reads no setting).
        test_cfg: The model's ``test_cfg``: must be empty; re-prompting keys are refused
            with an error naming the key (Sa2VA does not re-prompt).
        init_cfg: MMEngine init config.
    """

    SETTINGS_NOTE = (": Sa2VA's head does not re-prompt (re-prompting is DeSa2VA's, "
                     "seg_head=dict(type='DecoupledSegHead'))")

    def __init__(self,
                 *,
                 in_channels: int,
                 decoder_kwargs: Optional[dict] = None,
                 text_hidden_fcs: Optional[dict] = None,
                 mask_head: Optional[dict] = None,
                 loss_mask: Optional[dict] = None,
                 loss_dice: Optional[dict] = None,
                 mask_loss_sampler: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(in_channels=in_channels, decoder_kwargs=decoder_kwargs,
                         loss_mask=loss_mask, loss_dice=loss_dice,
                         mask_loss_sampler=mask_loss_sampler, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        projection = dict(text_hidden_fcs or dict(type='Sa2VAProjection'))
        projection.setdefault('in_channels', in_channels)
        projection.setdefault('out_channels', self.prompt_channels)
        self.text_hidden_fcs = build_in_scope(projection)
        self.mask_head = build_sam2_head(mask_head or dict(type='SAM2MaskHead'),
                                         self.decoder_kwargs)

    def sam2_heads(self) -> Dict[str, nn.Module]:
        return {'mask_head': self.mask_head}

    # ------------------------------------------------------------------ decoding
    def decode(self, grounding, image_feats: Dict[str, torch.Tensor],
               seg_hidden: torch.Tensor, image_idx: torch.Tensor) -> SegDecodeResult:
        sparse = self.prompt_tokens(grounding, self.text_hidden_fcs(seg_hidden))
        out = self._decode_with(self.mask_head, grounding, image_feats, sparse, image_idx)
        return self._result(out['low_res_logits'], out)

    def tracking_prompt(self, seg_hidden: torch.Tensor) -> torch.Tensor:
        return self.text_hidden_fcs(seg_hidden)

    @property
    def tracking_head(self) -> nn.Module:
        """The one mask head segments memory-conditioned frames."""
        return self.mask_head

    # ------------------------------------------------------------------ losses
    def mask_losses(self, result: SegDecodeResult,
                    gt: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``loss_mask`` and ``loss_dice`` of the decoded masks (zeros without targets)."""
        if gt is None:
            zero = result.final_logits.sum() * 0.0
            return dict(loss_mask=zero, loss_dice=zero)
        mask, dice = segmentation_losses(result.final_logits, gt, self.loss_mask,
                                         self.loss_dice, self.mask_loss_sampler)
        return dict(loss_mask=mask, loss_dice=dice)
