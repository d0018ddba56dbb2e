"""Sa2VA's ``text_hidden_fcs``: one MLP from the [SEG] state to a SAM-2 prompt token."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS


@MODELS.register_module()
class Sa2VAProjection(BaseModule):
    """``h -> Linear(H, H) -> ReLU -> Linear(H, C) -> Dropout``, Sa2VA's baseline mapping.

    Submodule names (``mlp.0``, ``mlp.2``) follow Sa2VA's ``text_hidden_fcs.0`` /
    ``text_hidden_fcs.2`` so checkpoints convert key for key.

    Args:
        in_channels: H, the LLM hidden size.
        out_channels: C, the SAM-2 prompt dimension.
        dropout: Dropout after the last layer (Sa2VA: 0).
    """

    def __init__(self, in_channels: int, out_channels: int = 256, dropout: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, in_channels), nn.ReLU(inplace=True),
            nn.Linear(in_channels, out_channels), nn.Dropout(dropout))

    def forward(self, seg_hidden: torch.Tensor) -> torch.Tensor:
        """(N, H) [SEG] states -> (N, C) prompt tokens."""
        return self.mlp(seg_hidden)
