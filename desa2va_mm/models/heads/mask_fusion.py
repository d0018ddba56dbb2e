"""Learned per-pixel gate between the text and visual mask logits (docs/method.md §5)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS


@MODELS.register_module()
class MaskFusion(BaseModule):
    """``a = sigmoid(g([M_t, M_v]))``, ``M_f = a * M_t + (1 - a) * M_v``.

    ``g`` is a small conv net over the two logit maps. Its last layer starts at zero, so
    the gate starts at 0.5 (the plain average) and learns where to trust which branch.

    Shapes: ``M_t, M_v: (N, 1, h, w) -> M_f, a: (N, 1, h, w)``.

    Args:
        hidden_channels: Width of ``g``.
        kernel_size: Kernel of ``g``'s convolutions (odd).
        init_cfg: MMEngine init config.
    """

    def __init__(self, *, hidden_channels: int = 16, kernel_size: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        pad = kernel_size // 2
        self.gate = nn.Sequential(
            nn.Conv2d(2, hidden_channels, kernel_size, padding=pad), nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, 1, kernel_size, padding=pad))
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.zeros_(self.gate[-1].bias)

    def forward(self, text_logits: torch.Tensor,
                visual_logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fuse two (N, 1, h, w) logit maps into ``(M_f, a)``, each (N, 1, h, w)."""
        # The gate reads logits clamped like SAM-2 mask prompts: -1024 "no object" fills
        # would otherwise saturate it.
        stacked = torch.cat([text_logits, visual_logits], dim=1).clamp(-32.0, 32.0)
        gate = torch.sigmoid(self.gate(stacked))
        return gate * text_logits + (1 - gate) * visual_logits, gate
