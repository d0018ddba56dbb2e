"""Importance-sampled points of low-res mask logits and their ground truth (docs/method.md §7)."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.utils import get_uncertain_point_coords_with_randomness

from desa2va_mm.registry import MODELS


@MODELS.register_module()
class MaskPointSampler(nn.Module):
    """The points a mask loss is computed on, as Sa2VA samples them (Mask2Former's scheme).

    For N low-res logits ``L`` (N, 1, h, w) and masks ``G`` (N, H, W):

    1. ``G`` is brought to the logits' size with nearest-neighbour interpolation
       (``G' = nearest(G, (h, w))``), as Sa2VA does before either of its losses;
    2. ``k * P`` uniform points are drawn in [0, 1]^2 per mask (``k`` the oversample
       ratio), their logits read bilinearly, and the ``beta * P`` whose logits are closest
       to 0 (most uncertain, ``-|L(p)|`` largest) are kept; ``(1 - beta) * P`` fresh
       uniform points complete the set (mmdet's
       ``get_uncertain_point_coords_with_randomness``, no gradient);
    3. both ``L`` and ``G'`` are read at those points with ``point_sample`` (bilinear,
       ``align_corners=False``): (N, P) logits and (N, P) soft targets in [0, 1].

    The mask losses then see ``P`` points per mask instead of ``H x W`` pixels, with
    Sa2VA's normalisation (:meth:`loss_avg_factors`): BCE averaged over the N x P points,
    Dice over the N masks.

    Args:
        num_points: P, points per mask (Sa2VA: 112 x 112 = 12544).
        oversample_ratio: k >= 1, candidates drawn per kept point (Sa2VA: 3).
        importance_sample_ratio: beta in [0, 1], the fraction of P taken from the most
            uncertain candidates (Sa2VA: 0.75).

    Raises:
        ValueError: A setting out of range (the message names the key).
    """

    def __init__(self, *, num_points: int = 12544, oversample_ratio: float = 3.0,
                 importance_sample_ratio: float = 0.75) -> None:
        super().__init__()
        if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
            raise ValueError('mask_loss_sampler.num_points must be an int >= 1, got '
                             f'{num_points!r}')
        if oversample_ratio < 1:
            raise ValueError('mask_loss_sampler.oversample_ratio must be >= 1, got '
                             f'{oversample_ratio!r}')
        if not 0 <= importance_sample_ratio <= 1:
            raise ValueError('mask_loss_sampler.importance_sample_ratio must be in [0, 1], '
                             f'got {importance_sample_ratio!r}')
        self.num_points = num_points
        self.oversample_ratio = float(oversample_ratio)
        self.importance_sample_ratio = float(importance_sample_ratio)

    @staticmethod
    def gt_at_logit_size(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """(N, H, W) masks -> (N, 1, h, w) float at the logits' size (nearest)."""
        return F.interpolate(gt[:, None].float(), size=logits.shape[-2:], mode='nearest')

    @torch.no_grad()
    def sample_coords(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) logits -> (N, P, 2) xy in [0, 1]: the uncertain points first."""
        return get_uncertain_point_coords_with_randomness(
            logits.detach().float(), None, self.num_points, self.oversample_ratio,
            self.importance_sample_ratio)

    def sample_at(self, logits: torch.Tensor, gt: torch.Tensor,
                  coords: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits and ground truth read at given points.

        Args:
            logits: (N, 1, h, w) low-res mask logits.
            gt: (N, H, W) binary masks (any size: brought to (h, w) first).
            coords: (N, P, 2) xy in [0, 1].

        Returns:
            (N, P) float32 logits (differentiable) and (N, P) float32 targets in [0, 1].
        """
        with torch.no_grad():
            targets = point_sample(self.gt_at_logit_size(logits, gt), coords)[:, 0]
        preds = point_sample(logits.float(), coords.float())[:, 0]
        return preds, targets

    def forward(self, logits: torch.Tensor,
                gt: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, h, w) logits and (N, H, W) masks -> (N, P) logits and (N, P) targets."""
        return self.sample_at(logits, gt, self.sample_coords(logits))

    @staticmethod
    def loss_avg_factors(point_logits: torch.Tensor) -> Tuple[float, float]:
        """``avg_factor`` of the BCE (N x P points) and of the Dice loss (N masks).

        The ``1e-4`` keeps Sa2VA's normalisation exactly (it only matters for N = 0).
        """
        n, p = point_logits.shape
        return n * p + 1e-4, n + 1e-4

    def extra_repr(self) -> str:
        return (f'num_points={self.num_points}, oversample_ratio={self.oversample_ratio}, '
                f'importance_sample_ratio={self.importance_sample_ratio}')
