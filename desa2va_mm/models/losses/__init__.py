"""Losses of DeSa2VA's decoupling stage (adversarial alignment and CLUB, docs/method.md §8-9)
and the point sampler of the mask losses (docs/method.md §7)."""
from .club_loss import CLUBLoss, club_upper_bound
from .gradient_reversal import (GradientReversal, GradientReversalFunction, dann_lambda,
                                grad_reverse)
from .mask_point_sampler import MaskPointSampler
from .modality_adversarial_loss import ModalityAdversarialLoss

__all__ = [
    'CLUBLoss', 'club_upper_bound', 'GradientReversal', 'GradientReversalFunction',
    'dann_lambda', 'grad_reverse', 'MaskPointSampler', 'ModalityAdversarialLoss'
]
