"""DeSa2VA's segmentation head: decoupled prompts, two SAM-2 decoders, fusion, re-prompting."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from desa2va_mm.registry import MODELS
from ..builder import build_in_scope
from .seg_decode_result import BRANCHES, SegDecodeResult
from .base_seg_head import (BaseSegHead, build_sam2_head, raise_on_removed_arguments,
                            sample_points_in_masks)


@MODELS.register_module()
class DecoupledSegHead(BaseSegHead):
    """Decoupled ``[SEG]`` tokens (docs/method.md §2-10).

    For N ``[SEG]`` states ``h`` (N, H) against image features ``F``::

        h_t, h_v = W_t h, W_v h                      (neck, SegTokenDecoupler)
        M_t = D_t(F, [pad; h_t])                     (text_head)
        M_v = D_v(F, [pad; h_v])                     (visual_head)
        M_f = a M_t + (1 - a) M_v                    (fusion, MaskFusion; M_f = M_v without)
        M_r = D_v(F, [pad; h_v], P(clamp(M_f)))      (re-prompting, k times)

    every mask (N, 1, 4h, 4w). Phase 1 decodes the text anchor instead,
    ``M_t = D_t(F, [pad; e])`` with ``e = W_e mean_i E[x_i]`` (:meth:`decode_anchor`).

    Losses: ``loss_mask_{text,visual,fused,reprompt}`` (``L_seg = L_mask + L_dice`` of each
    branch present, weighted by ``mask_loss_weights``; 0 switches a term off), ``loss_adv``
    (gradient reversal + discriminators, real samples the text anchors and SAM-2 point
    embeddings of points inside the ground truth; ``adversarial_loss.target`` picks which
    modality's real prompts each branch is compared with) and ``loss_mi`` (CLUB, whose
    estimator trains with its own optimizer inside the forward; ``mi_estimate`` and
    ``club_nll`` are logged), each off when its module is None. ``loss_align``
    (``anchor_align_loss``, off by default) pulls each ``h_t`` toward its own target's text
    anchor ``e``, the prompt the frozen ``D_t`` learned to decode in phase 1
    (docs/method.md §3).

    Re-prompting follows the model's ``train_cfg`` / ``test_cfg`` (docs/method.md §6):
    ``train_cfg.reprompt_iters`` times in training (0 by default; phase 3: 1),
    ``test_cfg.reprompt_iters`` times in eval mode, i.e. at validation and test (1 by
    default, the paper's setting); in eval mode a mask whose first predicted IoU is below
    ``test_cfg.reprompt_iou_threshold`` keeps its fused mask (None: always re-prompt).
    Tracked video frames are decoded by ``D_v`` alone from ``h_v``.

    Args:
        in_channels: H, the MLLM hidden size (set by the segmentor).
        decoder_kwargs: SAM-2 decoder arguments (set by the segmentor).
        neck: ``SegTokenDecoupler`` config (``in_channels`` / ``out_channels`` default to H
            and the decoder width C).
        text_head: ``SAM2TextHead`` config (``D_t``).
        visual_head: ``SAM2VisualHead`` config (``D_v``).
        fusion: ``MaskFusion`` config, or None (the visual mask is final and is the one
            re-prompted).
        adversarial_loss: ``ModalityAdversarialLoss`` config or None.
        club_loss: ``CLUBLoss`` config or None.
        anchor_align_loss: A regression loss config (e.g. ``dict(type='MSELoss',
            loss_weight=1.0)``, mmdet's) between each ``h_t`` and its target's detached text
            anchor, or None (the default: only the adversarial loss relates ``h_t`` to the
            anchors, as a distribution).
        mask_loss_weights: ``dict(text=, visual=, fused=, reprompt=)`` (default 1 each).
        num_point_samples: Points sampled inside each ground-truth mask for the visual
            discriminator's real samples.
        loss_mask: Per-pixel mask loss (Sa2VA: sigmoid BCE x2.0).
        loss_dice: Dice loss (Sa2VA: x0.5).
        mask_loss_sampler: ``MaskPointSampler`` config (Sa2VA: 12544 points per mask,
            sampled on each branch's own logits) or None (full-pixel losses).
        train_cfg: The model's ``train_cfg``: ``reprompt_iters`` (int >= 0).
        test_cfg: The model's ``test_cfg``: ``reprompt_iters`` (int >= 0) and
            ``reprompt_iou_threshold`` (float or None).
        init_cfg: MMEngine init config.

    Raises:
        TypeError: A removed argument (``reprompt_iters_train``, ``reprompt_iters_test``,
            ``reprompt_iou_threshold``) is given; the message names the key that replaced it.
    """

    TRAIN_CFG_DEFAULTS = {'reprompt_iters': 0}
    TEST_CFG_DEFAULTS = {'reprompt_iters': 1, 'reprompt_iou_threshold': None}

    def __init__(self,
                 *,
                 in_channels: int,
                 decoder_kwargs: Optional[dict] = None,
                 neck: Optional[dict] = None,
                 text_head: Optional[dict] = None,
                 visual_head: Optional[dict] = None,
                 fusion: Optional[dict] = None,
                 adversarial_loss: Optional[dict] = None,
                 club_loss: Optional[dict] = None,
                 anchor_align_loss: Optional[dict] = None,
                 mask_loss_weights: Optional[dict] = None,
                 num_point_samples: int = 1,
                 loss_mask: Optional[dict] = None,
                 loss_dice: Optional[dict] = None,
                 mask_loss_sampler: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **removed) -> None:
        raise_on_removed_arguments(type(self).__name__, removed)
        super().__init__(in_channels=in_channels, decoder_kwargs=decoder_kwargs,
                         loss_mask=loss_mask, loss_dice=loss_dice,
                         mask_loss_sampler=mask_loss_sampler, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        for kind, settings in (('train_cfg', self.train_cfg), ('test_cfg', self.test_cfg)):
            iters = settings['reprompt_iters']
            if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
                raise ValueError(f'model.{kind}.reprompt_iters must be an int >= 0 (0: no '
                                 f're-prompting), got {iters!r}')
        threshold = self.test_cfg['reprompt_iou_threshold']
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, (int, float))):
            raise ValueError('model.test_cfg.reprompt_iou_threshold must be a number or None '
                             f'(always re-prompt), got {threshold!r}')
        weights = {name: 1.0 for name in BRANCHES}
        unknown = set(mask_loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'seg_head.mask_loss_weights: unknown keys {sorted(unknown)}; '
                             f'options: {sorted(weights)}')
        weights.update(mask_loss_weights or {})
        self.mask_loss_weights = weights
        self.num_point_samples = num_point_samples

        channels = self.prompt_channels
        neck = dict(neck or dict(type='SegTokenDecoupler'))
        neck.setdefault('in_channels', in_channels)
        neck.setdefault('out_channels', channels)
        self.neck = build_in_scope(neck)
        self.text_head = build_sam2_head(text_head or dict(type='SAM2TextHead'),
                                         self.decoder_kwargs)
        self.visual_head = build_sam2_head(visual_head or dict(type='SAM2VisualHead'),
                                           self.decoder_kwargs)
        self.fusion = build_in_scope(fusion) if fusion is not None else None
        self.adversarial_loss = None
        if adversarial_loss is not None:
            adversarial_loss = dict(adversarial_loss)
            adversarial_loss.setdefault('in_channels', channels)
            self.adversarial_loss = build_in_scope(adversarial_loss)
        self.club_loss = None
        if club_loss is not None:
            club_loss = dict(club_loss)
            club_loss.setdefault('x_dim', channels)
            club_loss.setdefault('y_dim', channels)
            self.club_loss = build_in_scope(club_loss)
        self.anchor_align_loss = (build_in_scope(anchor_align_loss)
                                  if anchor_align_loss is not None else None)

    def sam2_heads(self) -> Dict[str, nn.Module]:
        return {'text_head': self.text_head, 'visual_head': self.visual_head}

    @property
    def needs_text_anchor(self) -> bool:
        """The adversarial loss (its real text prompts) and the alignment loss read the
        targets' text anchors."""
        return self.adversarial_loss is not None or self.anchor_align_loss is not None

    # ------------------------------------------------------------------ decoding
    def decode(self, grounding, image_feats: Dict[str, torch.Tensor],
               seg_hidden: torch.Tensor, image_idx: torch.Tensor) -> SegDecodeResult:
        """``M_t``, ``M_v``, ``M_f`` and ``M_r`` of N ``[SEG]`` states (see the class)."""
        text_prompt, visual_prompt = self.neck(seg_hidden)
        out_t = self._decode_with(self.text_head, grounding, image_feats,
                                  self.prompt_tokens(grounding, text_prompt), image_idx)
        visual_sparse = self.prompt_tokens(grounding, visual_prompt)
        out_v = self._decode_with(self.visual_head, grounding, image_feats, visual_sparse,
                                  image_idx)
        final, fused, gate = out_v['low_res_logits'], None, None
        if self.fusion is not None:
            fused, gate = self.fusion(out_t['low_res_logits'], out_v['low_res_logits'])
            final = fused
        # Score and memory pointer come from the last visual decode.
        last_visual, reprompted = out_v, None
        settings = self.settings
        threshold = settings.get('reprompt_iou_threshold')  # test_cfg only
        for _ in range(settings['reprompt_iters']):
            # The prompt is the previous mask as SAM-2 sees a mask input: detached, clamped.
            out_r = self._decode_with(self.visual_head, grounding, image_feats, visual_sparse,
                                      image_idx, mask_logits=final.detach())
            reprompted = out_r['low_res_logits']
            if threshold is not None:
                keep = (out_v['iou_pred'] < threshold).view(-1, 1, 1, 1)
                reprompted = torch.where(keep, final, reprompted)
            last_visual, final = out_r, reprompted
        return self._result(final, last_visual, text_logits=out_t['low_res_logits'],
                            visual_logits=out_v['low_res_logits'], fused_logits=fused,
                            fusion_gate=gate, reprompt_logits=reprompted,
                            text_prompt=text_prompt, visual_prompt=visual_prompt)

    def text_anchor(self, token_embeds: torch.Tensor,
                    token_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``e = W_e mean_i E[x_i]`` (N, C) of expressions' token embeddings (N, L, H)."""
        return self.neck.text_anchor(token_embeds, token_mask)

    def empty_text_anchor(self) -> torch.Tensor:
        """A zero anchor (1, C) computed through ``W_e``: the one row a batch without
        targets decodes in phase 1, so every rank runs the same graph."""
        weight = self.neck.anchor_proj.weight
        embeds = weight.new_zeros(1, 1, self.in_channels)
        mask = torch.ones(1, 1, dtype=torch.long, device=weight.device)
        return self.text_anchor(embeds, mask) * 0

    def decode_anchor(self, grounding, image_feats: Dict[str, torch.Tensor],
                      text_anchor: torch.Tensor, image_idx: torch.Tensor) -> SegDecodeResult:
        """Phase 1: ``M_t = D_t(F, [pad; e])`` of N text anchors (N, C) (text branch only)."""
        out = self._decode_with(self.text_head, grounding, image_feats,
                                self.prompt_tokens(grounding, text_anchor), image_idx)
        return self._result(out['low_res_logits'], out, text_logits=out['low_res_logits'],
                            text_prompt=text_anchor)

    def tracking_prompt(self, seg_hidden: torch.Tensor) -> torch.Tensor:
        """``h_v`` (N, C): the visual prompt carries the object through the video."""
        return self.neck(seg_hidden)[1]

    @property
    def tracking_head(self) -> nn.Module:
        """``D_v`` segments memory-conditioned frames."""
        return self.visual_head

    # ------------------------------------------------------------------ losses
    def mask_losses(self, result: SegDecodeResult,
                    gt: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``loss_mask_<branch>`` of every branch present whose weight is not 0."""
        losses = {}
        for name, logits in result.branch_logits().items():
            weight = self.mask_loss_weights[name]
            if weight <= 0:
                continue
            if gt is None:
                zero = logits.sum() * 0.0
                losses[f'loss_mask_{name}'] = weight * (zero + zero)
            else:
                losses[f'loss_mask_{name}'] = weight * self.segmentation_loss(logits, gt)
        return losses

    def prompt_losses(self, grounding, result: SegDecodeResult, gt: Optional[torch.Tensor],
                      text_anchor: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``loss_adv`` (+ discriminator accuracies, ``grl_lambda``), ``loss_mi``
        (+ ``mi_estimate``, ``club_nll``) and ``loss_align`` on ``h_t`` / ``h_v``.

        A phase-1 decode (no ``h_v``) has none. Without targets (``gt`` None) the prompts
        are zeroed, there are no real samples and every ``loss*`` term is multiplied by 0:
        the same graph, no gradient. CLUB then gets zero rows (still connected to the
        prompts), so its estimator does not fit the dummy prompt; under DDP such a rank
        still joins the estimator's gradient all-reduce with weight 0.
        """
        if result.visual_prompt is None:
            return {}
        empty = gt is None
        text_prompt, visual_prompt = result.text_prompt, result.visual_prompt
        if empty:
            text_prompt, visual_prompt = text_prompt * 0, visual_prompt * 0
        losses = {}
        if self.anchor_align_loss is not None:
            if empty:
                losses['loss_align'] = text_prompt.sum() * 0
            else:
                if text_anchor.shape != text_prompt.shape:
                    raise ValueError(
                        f'seg_head.anchor_align_loss: {text_anchor.shape[0]} text anchors '
                        f'(one per target expression) for {text_prompt.shape[0]} [SEG] '
                        'prompts; every [SEG] needs its expression (expression_ids from '
                        'TokenizeConversation)')
                losses['loss_align'] = self.anchor_align_loss(text_prompt,
                                                              text_anchor.detach())
        if self.adversarial_loss is not None:
            if empty:
                text_anchor = text_prompt.new_zeros(0, text_prompt.shape[-1])
                points = text_prompt.new_zeros(0, 2)
            else:
                points = sample_points_in_masks(gt, self.num_point_samples,
                                                grounding.image_size)
            with torch.no_grad():
                point_embeds = grounding.point_prompts(
                    points[:, None], torch.ones(len(points), 1, device=points.device))[:, 0]
            adv = self.adversarial_loss(text_prompt, visual_prompt, text_anchor.detach(),
                                        point_embeds)
            if empty:
                adv['loss_adv'] = adv['loss_adv'] * 0
            losses.update(adv)
        if self.club_loss is not None:
            if empty:
                club = self.club_loss(text_prompt[:0], visual_prompt[:0])
            else:
                club = self.club_loss(text_prompt, visual_prompt)
            if empty:
                club = {k: v * 0 if k.startswith('loss') else v for k, v in club.items()}
            losses.update(club)
        return losses
