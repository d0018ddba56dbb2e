"""What a segmentation head returns for N ``[SEG]`` prompts (typed, no aliases)."""
from dataclasses import dataclass, fields
from typing import Dict, Optional, Sequence

import torch

#: Branch logits a decode may hold, in the order their losses are computed.
BRANCHES = ('text', 'visual', 'fused', 'reprompt')


@dataclass
class SegDecodeResult:
    """Masks decoded from N prompts (one per ``[SEG]`` or per text anchor).

    ``final_logits`` is the mask the model outputs (and, on video, writes to SAM-2's
    memory); the branch fields are filled by heads that have those branches (DeSa2VA's
    ``DecoupledSegHead``), None otherwise. Low-resolution logits are SAM-2's
    ``(N, 1, 4h, 4w)`` (256 x 256 at 1024 px input; 32 x 32 in the tiny configs).

    Attributes:
        final_logits: (N, 1, 4h, 4w) the output mask logits.
        iou_pred: (N,) predicted IoU of the last decode that produced ``final_logits``'s
            visual mask (the score of the mask).
        object_score_logits: (N,) object-presence logit of that decode (SAM-2's "is the
            object here", used by the video tracker).
        mask_tokens: (N, M, C) that decode's mask tokens (the object pointer of SAM-2's
            memory is projected from the chosen one).
        multi_iou: (N, M) that decode's predicted IoU of every candidate mask.
        text_logits: (N, 1, 4h, 4w) ``M_t`` of the text head ``D_t``.
        visual_logits: (N, 1, 4h, 4w) ``M_v`` of the visual head ``D_v``.
        fused_logits: (N, 1, 4h, 4w) ``M_f`` of the fusion gate.
        fusion_gate: (N, 1, 4h, 4w) the gate ``a`` of ``M_f = a M_t + (1 - a) M_v``.
        reprompt_logits: (N, 1, 4h, 4w) ``M_r`` of the last re-prompting iteration.
        text_prompt: (N, C) ``h_t`` (or the text anchor ``e`` in phase 1).
        visual_prompt: (N, C) ``h_v``.
    """

    final_logits: torch.Tensor
    iou_pred: torch.Tensor
    object_score_logits: torch.Tensor
    mask_tokens: torch.Tensor
    multi_iou: torch.Tensor
    text_logits: Optional[torch.Tensor] = None
    visual_logits: Optional[torch.Tensor] = None
    fused_logits: Optional[torch.Tensor] = None
    fusion_gate: Optional[torch.Tensor] = None
    reprompt_logits: Optional[torch.Tensor] = None
    text_prompt: Optional[torch.Tensor] = None
    visual_prompt: Optional[torch.Tensor] = None

    def branch_logits(self) -> Dict[str, torch.Tensor]:
        """``{branch: logits}`` of the branches present, in :data:`BRANCHES` order."""
        return {name: getattr(self, f'{name}_logits') for name in BRANCHES
                if getattr(self, f'{name}_logits') is not None}

    def __len__(self) -> int:
        return self.final_logits.shape[0]

    @classmethod
    def cat(cls, results: Sequence['SegDecodeResult']) -> 'SegDecodeResult':
        """Rows of several results, in order (a field absent from all stays None)."""
        values = {}
        for f in fields(cls):
            parts = [getattr(r, f.name) for r in results]
            if all(p is None for p in parts):
                values[f.name] = None
            elif any(p is None for p in parts):
                raise ValueError(f'SegDecodeResult.cat: {f.name} is set in some results only')
            else:
                values[f.name] = torch.cat(parts)
        return cls(**values)

    def select(self, rows: torch.Tensor) -> 'SegDecodeResult':
        """The result restricted to ``rows`` (an index or boolean tensor)."""
        return SegDecodeResult(**{
            f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[rows]
            for f in fields(self)})
