"""Grounded conversation generation (GCG) with :class:`DeSa2VAInferencer` (docs/gcg.md)."""
import re
from typing import Optional

import numpy as np

from desa2va_mm.datasets.transforms.build_gcg_conversation import GCG_TEST_QUESTION
from desa2va_mm.evaluation.functional.gcg import parse_gcg_answer

__all__ = ['draw_grounded_caption', 'grounded_caption', 'split_grounded_answer']

_PIECE = re.compile(r'<p>(.*?)</p>|\[SEG\]', re.S)


def split_grounded_answer(answer: str) -> list:
    """The phrase of each ``[SEG]`` of a GCG answer, in order.

    A ``[SEG]`` belongs to the ``<p> ... </p>`` right before it; a ``[SEG]`` without one
    (or after a phrase that already has its ``[SEG]``) gets None.
    (``'<p> a man </p> [SEG] and [SEG]'`` -> ``['a man', None]``.)
    """
    phrases, pending = [], None
    for match in _PIECE.finditer(answer):
        if match.group(0) == '[SEG]':
            phrases.append(pending)
            pending = None
        else:
            pending = match.group(1).strip()
    return phrases


def grounded_caption(inferencer, image, question: Optional[str] = None) -> dict:
    """Ask for a grounded caption of one image and pair each phrase with its mask.

    Args:
        inferencer: A :class:`DeSa2VAInferencer` (its :meth:`chat` runs the model).
        image: Image path or BGR array.
        question: The GCG question; None: Sa2VA's (:data:`GCG_TEST_QUESTION`).

    Returns:
        dict: ``answer`` (the generated text with its tags), ``caption`` (tags and
        ``[SEG]`` removed, as the GCG metric reads it), ``phrases``: one
        ``dict(phrase, mask, score)`` per ``[SEG]`` in answer order (``mask`` (H, W) bool;
        ``phrase`` None for a ``[SEG]`` without a ``<p> ... </p>`` before it); empty when
        the answer has no ``[SEG]``.
    """
    out = inferencer.chat(image, question if question is not None else GCG_TEST_QUESTION)
    answer = out['answer']
    caption, _, num_seg = parse_gcg_answer(answer)
    phrases = split_grounded_answer(answer)
    masks, scores = np.asarray(out['masks']), list(out['scores'])
    if num_seg and len(masks) != num_seg:
        raise RuntimeError(f'the model gave {len(masks)} masks for {num_seg} [SEG] tokens in '
                           f'{answer!r}')
    grounded = [dict(phrase=p, mask=masks[k].astype(bool), score=float(scores[k]))
                for k, p in enumerate(phrases)] if num_seg else []
    return dict(answer=answer, caption=caption, phrases=grounded)


def draw_grounded_caption(image_bgr: np.ndarray, result: dict) -> np.ndarray:
    """The image with each grounded phrase's mask in its own colour, the caption above and
    one legend line per phrase (``[k] phrase (IoU pred)``), in answer order.

    Args:
        image_bgr: (H, W, 3) uint8 BGR image.
        result: What :func:`grounded_caption` returned for it.

    Returns:
        (H' + legend, W', 3) RGB uint8 canvas.
    """
    from desa2va_mm.visualization.video_overlay import draw_masks
    h, w = image_bgr.shape[:2]
    phrases = result['phrases']
    masks = np.stack([p['mask'] for p in phrases]) if phrases else np.zeros((0, h, w), bool)
    labels = [f'{p["phrase"] if p["phrase"] is not None else "[SEG] without a phrase"} '
              f'(IoU pred {p["score"]:.2f})' for p in phrases]
    caption = result['caption'] or '(no caption)'
    return draw_masks(np.ascontiguousarray(image_bgr[..., ::-1]), masks, labels,
                      header=f'caption: {caption}')
