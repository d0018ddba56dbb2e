"""The interface every segmentation head of ``DeSa2VA`` implements, and its shared pieces."""
from abc import abstractmethod
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ..builder import build_in_scope
from .seg_decode_result import SegDecodeResult

#: Sa2VA's mask losses: BCE x2.0 + Dice x0.5 (docs/method.md §7).
DEFAULT_LOSS_MASK = dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean',
                         loss_weight=2.0)
DEFAULT_LOSS_DICE = dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
                         naive_dice=True, eps=1.0, loss_weight=0.5)


def sample_points_in_masks(gt: torch.Tensor, num_points: int,
                           image_size: int) -> torch.Tensor:
    """Uniform random points inside each mask (anywhere in an empty one).

    Args:
        gt: (N, h, w) binary masks.
        num_points: k points per mask.
        image_size: S, the SAM-2 input side the points are expressed at.

    Returns:
        (N * k, 2) xy pixel coordinates at S x S, mask-major.
    """
    n, h, w = gt.shape
    scale = image_size / torch.tensor([w, h], device=gt.device)
    flat = gt.flatten(1).float()
    weights = flat + (flat.sum(1, keepdim=True) == 0).float()
    # Inverse-CDF sampling: u uniform in [0, total) lands on pixel i where the cumulative
    # weight first exceeds u, i.e. uniformly on the mask's pixels. The distribution of
    # torch.multinomial(weights, k, replacement=True) at a fraction of its cost on large
    # masks (7x on four 512 x 512 masks on a CPU); float32 counts are exact below 2^24
    # pixels.
    cdf = weights.cumsum(1)
    u = torch.rand(n, num_points, device=gt.device) * cdf[:, -1:]
    idx = torch.searchsorted(cdf, u, right=True).clamp_max(h * w - 1)
    xy = torch.stack([idx % w, idx // w], dim=-1).float() + 0.5
    return (xy * scale).reshape(-1, 2)


def segmentation_losses(logits: torch.Tensor, gt: torch.Tensor, loss_mask: nn.Module,
                        loss_dice: nn.Module, sampler: Optional[nn.Module] = None
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(L_mask, L_dice)`` of low-res logits (N, 1, h', w') against masks (N, H, W).

    Without ``sampler`` (full-pixel): the logits are upsampled (bilinear) to the ground
    truth's size and both losses see every pixel. With a ``MaskPointSampler`` (Sa2VA's
    default, docs/method.md §7): both losses see its P points per mask, read on the
    low-res logits and on the ground truth brought to their size; BCE is averaged over the
    N x P points and Dice over the N masks, as Sa2VA normalises them.
    """
    if sampler is None:
        pred = F.interpolate(logits, size=gt.shape[-2:], mode='bilinear',
                             align_corners=False).squeeze(1)
        return loss_mask(pred, gt), loss_dice(pred, gt)
    point_logits, point_gt = sampler(logits, gt)
    bce_avg, dice_avg = sampler.loss_avg_factors(point_logits)
    point_logits, point_gt = point_logits.to(logits.dtype), point_gt.to(logits.dtype)
    mask = loss_mask(point_logits.reshape(-1), point_gt.reshape(-1), avg_factor=bce_avg)
    dice = loss_dice(point_logits, point_gt, avg_factor=dice_avg)
    return mask, dice


#: Seg-head arguments that became model settings -> the config key that replaced each.
REMOVED_ARGUMENTS = {
    'reprompt_iters_train': 'model.train_cfg.reprompt_iters',
    'reprompt_iters_test': 'model.test_cfg.reprompt_iters',
    'reprompt_iou_threshold': 'model.test_cfg.reprompt_iou_threshold',
}


def raise_on_removed_arguments(head_name: str, kwargs: Mapping) -> None:
    """Refuse constructor arguments a head no longer takes (none given: nothing happens).

    A config or ``--cfg-options`` that still sets a removed key must fail, not run with
    the default it no longer overrides.

    Raises:
        TypeError: Naming each removed key and the key that replaced it, or the unknown
            arguments.
    """
    if not kwargs:
        return
    moved = {k: REMOVED_ARGUMENTS[k] for k in kwargs if k in REMOVED_ARGUMENTS}
    if moved:
        hints = '; '.join(f'model.seg_head.{old} -> {new}' for old, new in moved.items())
        raise TypeError(f'{head_name}: re-prompting is set on the model, not on the seg '
                        f'head: {hints} (move the value to the new key in the config or '
                        '--cfg-options)')
    raise TypeError(f'{head_name}.__init__() got unexpected keyword arguments '
                    f'{sorted(kwargs)}')


def complete_settings(kind: str, given: Optional[Mapping], defaults: Mapping,
                      head_name: str, note: str = '') -> Dict[str, Any]:
    """A head's ``train_cfg`` / ``test_cfg``: ``defaults`` updated with ``given``.

    Args:
        kind: ``'train_cfg'`` or ``'test_cfg'`` (named in errors as ``model.<kind>.<key>``,
            where a config sets them).
        given: The settings passed to the model (None: all defaults).
        defaults: Every key the head reads in this mode, with its default.
        head_name: The head's class name (for errors).
        note: Appended to the error of an unknown key (e.g. which head has the setting).

    Returns:
        A new dict with every key of ``defaults``.

    Raises:
        ValueError: ``given`` has a key the head does not read.
    """
    settings = dict(defaults)
    for key, value in (given or {}).items():
        if key not in settings:
            raise ValueError(
                f'model.{kind}.{key}: {head_name} has no such setting (model.{kind} keys: '
                f'{sorted(defaults) or "none"}); remove it from the config{note}')
        settings[key] = value
    return settings


def build_sam2_head(cfg: dict, decoder_kwargs: dict) -> nn.Module:
    """A ``SAM2MaskHead`` config completed with the SAM-2 decoder's constructor arguments."""
    cfg = dict(cfg)
    for key, value in decoder_kwargs.items():
        cfg.setdefault(key, value)
    return build_in_scope(cfg)


class BaseSegHead(BaseModule):
    """``[SEG]`` states -> masks, and the losses of those masks.

    A segmentation head owns everything between the MLLM's ``[SEG]`` hidden states and
    the mask logits: the mapping of a state to SAM-2 prompt tokens, its SAM-2 decoder(s)
    and the losses on what they decode. SAM-2 itself (image features, prompt encoder)
    stays in the grounding encoder, which every method receives as ``grounding``.

    ``DeSa2VA`` calls, whatever the head:

    * :meth:`decode` on images and video key frames (``SegDecodeResult``);
    * :meth:`tracking_prompt` / :meth:`decode_tracked` on memory-conditioned video frames;
    * :meth:`mask_losses` (the masks against the ground truth) and :meth:`prompt_losses`
      (losses on the prompts themselves; none for Sa2VA) in training;
    * :meth:`sam2_heads` / :meth:`init_from_decoder` when it is built.

    As in mmdet, the model hands its ``train_cfg`` / ``test_cfg`` to the head, which owns
    their meaning: a head lists the keys it reads in :attr:`TRAIN_CFG_DEFAULTS` /
    :attr:`TEST_CFG_DEFAULTS` and keeps the completed dicts as :attr:`train_cfg` /
    :attr:`test_cfg`; ``train()`` / ``eval()`` pick which one applies.

    Args:
        in_channels: H, the MLLM hidden size (set by the segmentor).
        decoder_kwargs: Constructor arguments of the SAM-2 mask decoder every SAM-2 head
            of this head is built with (set by the segmentor from the grounding encoder).
        loss_mask: Per-pixel mask loss (mmdet ``CrossEntropyLoss`` with sigmoid).
        loss_dice: Dice loss (mmdet ``DiceLoss``).
        mask_loss_sampler: ``MaskPointSampler`` config: both mask losses on P
            importance-sampled points of the low-res logits (Sa2VA's default); None: on
            every pixel of the ground truth, the logits upsampled to its size.
        train_cfg: Training settings (the model's ``train_cfg``); keys of
            :attr:`TRAIN_CFG_DEFAULTS` only.
        test_cfg: Validation / test settings (the model's ``test_cfg``); keys of
            :attr:`TEST_CFG_DEFAULTS` only.
        init_cfg: MMEngine init config.
    """

    #: Keys the head reads from ``train_cfg``, with their defaults (none by default).
    TRAIN_CFG_DEFAULTS: Mapping[str, Any] = {}
    #: Keys the head reads from ``test_cfg``, with their defaults (none by default).
    TEST_CFG_DEFAULTS: Mapping[str, Any] = {}
    #: Appended to the error of an unknown ``train_cfg`` / ``test_cfg`` key.
    SETTINGS_NOTE = ''

    def __init__(self, *, in_channels: int, decoder_kwargs: Optional[dict] = None,
                 loss_mask: Optional[dict] = None, loss_dice: Optional[dict] = None,
                 mask_loss_sampler: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.decoder_kwargs = dict(decoder_kwargs or {})
        name = type(self).__name__
        self.train_cfg = complete_settings('train_cfg', train_cfg, self.TRAIN_CFG_DEFAULTS,
                                           name, self.SETTINGS_NOTE)
        self.test_cfg = complete_settings('test_cfg', test_cfg, self.TEST_CFG_DEFAULTS, name,
                                          self.SETTINGS_NOTE)
        self.loss_mask = build_in_scope(loss_mask or DEFAULT_LOSS_MASK)
        self.loss_dice = build_in_scope(loss_dice or DEFAULT_LOSS_DICE)
        self.mask_loss_sampler = build_in_scope(mask_loss_sampler) \
            if mask_loss_sampler is not None else None

    @property
    def settings(self) -> Dict[str, Any]:
        """The settings in force: :attr:`train_cfg` in training mode, else :attr:`test_cfg`."""
        return self.train_cfg if self.training else self.test_cfg

    # ------------------------------------------------------------------ construction
    @property
    def prompt_channels(self) -> int:
        """C, the width of SAM-2's prompt tokens (the decoder's ``transformer_dim``)."""
        return int(self.decoder_kwargs.get('transformer_dim', 256))

    @abstractmethod
    def sam2_heads(self) -> Dict[str, nn.Module]:
        """``{attribute name: SAM2MaskHead}`` of the SAM-2 decoders this head owns."""

    def init_from_decoder(self, decoder: nn.Module) -> None:
        """Copy a pretrained SAM-2 mask decoder into every SAM-2 head."""
        for head in self.sam2_heads().values():
            head.init_from_decoder(decoder)

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def prompt_tokens(grounding, tokens: torch.Tensor) -> torch.Tensor:
        """Sparse prompts ``[pad; pad; token]`` (N, 3, C) for (N, C) prompt tokens."""
        pad = grounding.padding_prompts(tokens.shape[0]).to(tokens.dtype)
        return torch.cat([pad, tokens.unsqueeze(1)], dim=1)

    @abstractmethod
    def decode(self, grounding, image_feats: Dict[str, torch.Tensor],
               seg_hidden: torch.Tensor, image_idx: torch.Tensor) -> SegDecodeResult:
        """Masks of N ``[SEG]`` states on images (or video key frames).

        Args:
            grounding: The ``SAM2Grounding`` (prompt encoder).
            image_feats: ``SAM2Grounding.encode_image`` output for B images.
            seg_hidden: (N, H) ``[SEG]`` hidden states.
            image_idx: (N,) the image each state prompts.

        Returns:
            The decode of every branch the head has.
        """

    @abstractmethod
    def tracking_prompt(self, seg_hidden: torch.Tensor) -> torch.Tensor:
        """(N, H) ``[SEG]`` states -> (N, C) the prompt token tracked video frames carry."""

    def decode_tracked(self, grounding, image_feats: Dict[str, torch.Tensor],
                       track_prompt: torch.Tensor, image_idx: torch.Tensor,
                       with_prompt: bool = True) -> SegDecodeResult:
        """Masks of a memory-conditioned video frame (one head, no fusion).

        Args:
            grounding: The ``SAM2Grounding``.
            image_feats: Memory-conditioned features of the frame for N objects.
            track_prompt: (N, C) :meth:`tracking_prompt` of the objects.
            image_idx: (N,) row of ``image_feats`` each object reads.
            with_prompt: Add ``[pad; token]``; False decodes SAM-2's padding prompts only.
        """
        if with_prompt:
            sparse = self.prompt_tokens(grounding, track_prompt)
        else:
            sparse = grounding.padding_prompts(track_prompt.shape[0]).to(track_prompt.dtype)
        out = self._decode_with(self.tracking_head, grounding, image_feats, sparse, image_idx)
        return self._result(out['low_res_logits'], out)

    @property
    @abstractmethod
    def tracking_head(self) -> nn.Module:
        """The SAM-2 decoder that segments memory-conditioned frames."""

    def _decode_with(self, head: nn.Module, grounding, image_feats: Dict[str, torch.Tensor],
                     sparse: torch.Tensor, image_idx: torch.Tensor,
                     mask_logits: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """One SAM-2 head on sparse prompts (+ a mask prompt when re-prompting)."""
        dense = grounding.dense_prompts(sparse.shape[0], mask_logits)
        return head(image_feats, sparse, dense, image_idx)

    @staticmethod
    def _result(final_logits: torch.Tensor, decoder_out: Dict[str, torch.Tensor],
                **branches) -> SegDecodeResult:
        """A ``SegDecodeResult`` whose score / memory fields come from ``decoder_out``."""
        return SegDecodeResult(final_logits=final_logits, iou_pred=decoder_out['iou_pred'],
                               object_score_logits=decoder_out['object_score_logits'],
                               mask_tokens=decoder_out['mask_tokens'],
                               multi_iou=decoder_out['multi_iou'], **branches)

    # ------------------------------------------------------------------ losses
    def segmentation_loss(self, logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """``L_seg = L_mask + L_dice`` of logits (N, 1, h', w') against masks (N, H, W)
        (point-sampled with :attr:`mask_loss_sampler`, else full-pixel)."""
        mask, dice = segmentation_losses(logits, gt, self.loss_mask, self.loss_dice,
                                         self.mask_loss_sampler)
        return mask + dice

    @abstractmethod
    def mask_losses(self, result: SegDecodeResult,
                    gt: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Losses of decoded masks against their ground truth.

        Args:
            result: N decoded prompts.
            gt: (N, H, W) float masks, or None for a batch without targets (its one dummy
                decode then gives zero losses connected to every decoder parameter, so
                every rank runs the same graph).
        """

    def prompt_losses(self, grounding, result: SegDecodeResult, gt: Optional[torch.Tensor],
                      text_anchor: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Losses on the prompt tokens themselves (one row per ``[SEG]``); none by default.

        Args:
            grounding: The ``SAM2Grounding`` (point prompts of the ground truth).
            result: One decode per ``[SEG]``.
            gt: (N, H, W) their masks, or None for a batch without targets.
            text_anchor: (N, C) their text anchors ``e`` (when :attr:`needs_text_anchor`).
        """
        return {}

    #: Whether :meth:`prompt_losses` reads the text anchors of the targets.
    needs_text_anchor = False
