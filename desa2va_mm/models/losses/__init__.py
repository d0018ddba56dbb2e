"""Losses of DeSa2VA's decoupling stage: adversarial alignment and CLUB (docs/method.md §8-9)."""
from .club_loss import CLUBLoss, club_upper_bound
from .gradient_reversal import (GradientReversal, GradientReversalFunction, dann_lambda,
                                grad_reverse)
from .modality_adversarial_loss import ModalityAdversarialLoss

__all__ = [
    'CLUBLoss', 'club_upper_bound', 'GradientReversal', 'GradientReversalFunction',
    'dann_lambda', 'grad_reverse', 'ModalityAdversarialLoss'
]
