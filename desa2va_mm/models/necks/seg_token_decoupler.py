"""Split the [SEG] state into a textual and a visual prompt (docs/method.md §2-3)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS


@MODELS.register_module()
class SegTokenDecoupler(BaseModule):
    """``h_t = W_t h + b_t``, ``h_v = W_v h + b_v`` and the text anchor ``e = W_e mean_i E[x_i]``.

    Shapes: ``h: (N, H) -> h_t, h_v: (N, C)``; ``E[x]: (N, L, H) -> e: (N, C)``.

    With ``hidden_channels`` set, ``W_t`` and ``W_v`` are each a small MLP
    ``Linear(H, hidden) -> GELU -> Linear(hidden, C)`` instead (docs/method.md §2): a
    non-linear split can drop information a linear one must keep (two linear maps of
    the same ``h`` share everything outside their null spaces). ``W_e`` stays linear: the
    anchor is phase 1's prompt and is frozen afterwards.

    ``h_t`` prompts the text head (pre-trained on ``e`` in phase 1, so it understands
    text-like prompts); ``h_v`` prompts the visual head and SAM-2's memory. ``e`` is the
    point-level prompt built from the ground-truth expression's frozen LLM input
    embeddings: one sparse token in the slot where SAM-2 puts a point embedding.

    Args:
        in_channels: H, the LLM hidden size.
        out_channels: C, the SAM-2 prompt dimension.
        normalize_anchor: Standardise ``mean_i E[x_i]`` (zero mean, unit variance over its
            H features, no learned affine) before ``W_e``. LLM input embeddings are small
            (Qwen2.5's std is ~0.02), so the mean of a handful of them is ~0.01 per feature
            and ``W_e mean`` starts as ``b_e`` plus a tiny expression-dependent part: every
            expression gives nearly the same anchor until ``W_e`` has grown by orders of
            magnitude, and phase 1 sits on the "some object" plateau. Standardised, the
            anchor's scale no longer depends on the embedding table. False gives the plain
            ``W_e mean_i E[x_i]``.
        hidden_channels: ``None`` for the linear ``W_t`` / ``W_v``; an int makes each a
            two-layer MLP of that hidden width.
        init_cfg: MMEngine init config.
    """

    def __init__(self, *, in_channels: int, out_channels: int = 256,
                 normalize_anchor: bool = True, hidden_channels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if hidden_channels is not None and (isinstance(hidden_channels, bool) or not
                                            isinstance(hidden_channels, int)
                                            or hidden_channels < 1):
            raise ValueError('neck.hidden_channels must be None (linear W_t / W_v) or an '
                             f'int >= 1 (MLP hidden width), got {hidden_channels!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize_anchor = normalize_anchor
        self.hidden_channels = hidden_channels
        self.text_proj = self._projection()  # W_t
        self.visual_proj = self._projection()  # W_v
        self.anchor_proj = nn.Linear(in_channels, out_channels)  # W_e

    def _projection(self) -> nn.Module:
        """``H -> C``: a Linear, or Linear-GELU-Linear with ``hidden_channels``."""
        if self.hidden_channels is None:
            return nn.Linear(self.in_channels, self.out_channels)
        return nn.Sequential(nn.Linear(self.in_channels, self.hidden_channels), nn.GELU(),
                             nn.Linear(self.hidden_channels, self.out_channels))

    def forward(self, seg_hidden: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, H) [SEG] states -> ``(h_t, h_v)``, each (N, C)."""
        return self.text_proj(seg_hidden), self.visual_proj(seg_hidden)

    def text_anchor(self, token_embeds: torch.Tensor,
                    token_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``e = W_e · mean_i E[x_i]`` over the valid tokens of each expression (the mean
        standardised first when ``normalize_anchor``).

        Args:
            token_embeds: (N, L, H) input embeddings of the expressions' tokens (the LLM's
                frozen table; the caller detaches them).
            token_mask: (N, L) 1 for real tokens, or None when none is padding.

        Returns:
            (N, C) text-anchor prompts.
        """
        if token_mask is None:
            mean = token_embeds.mean(dim=1)
        else:
            mask = token_mask.to(token_embeds.dtype).unsqueeze(-1)
            mean = (token_embeds * mask).sum(1) / mask.sum(1).clamp(min=1)
        if self.normalize_anchor:
            # eps far below the variance of a mean of small embeddings (~1e-5 here).
            mean = F.layer_norm(mean, mean.shape[-1:], eps=1e-10)
        return self.anchor_proj(mean)
