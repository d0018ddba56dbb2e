"""Pure functions of the GCG evaluation: reading an answer, pairing masks, matching phrases.

GLaMM's GCG evaluation (docs/gcg.md) pairs predicted and ground-truth masks greedily:
repeatedly take the pair with the highest IoU and remove its row and column. mIoU
averages the paired IoUs of an image (pairs with IoU 0 are not taken); phrase-grounding
recall counts a ground-truth phrase as found when its mask pairs with a prediction at
IoU >= 0.5 whose phrase is similar enough, and stops at the first highest-IoU pair that
fails either test.
"""
import re
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np

from .cider import simple_tokenize

__all__ = ['parse_gcg_answer', 'mask_iou_matrix', 'greedy_pairs', 'image_miou',
           'grounded_matches', 'exact_phrase_similarity', 'token_overlap_similarity',
           'PHRASE_MATCHERS', 'get_phrase_matcher']

_PHRASE = re.compile(r'<p>(.*?)</p>', re.S)
_TAG = re.compile(r'<[^>]*?>')


def parse_gcg_answer(text: str) -> Tuple[str, List[str], int]:
    """A generated GCG answer -> ``(caption, phrases, number of [SEG])``.

    As Sa2VA's GCG evaluation: the phrases are the stripped ``<p> ... </p>`` contents; the
    caption is the text with every ``<...>`` tag and ``[SEG]`` removed and spaces collapsed
    (``'<p> A man </p> [SEG] walks.'`` -> ``('A man walks.', ['A man'], 1)``; a ``[SEG]``
    right before punctuation leaves a space: ``'... dog </p> [SEG].'`` -> ``'... dog .'``,
    as in Sa2VA's output files; CIDEr's tokenizer drops the punctuation).
    """
    text = text.replace('\n', ' ')
    phrases = [p.strip() for p in _PHRASE.findall(text)]
    num_seg = text.count('[SEG]')
    caption = _TAG.sub('', text).replace('[SEG]', '')
    caption = ' '.join(caption.split()).strip("'").strip()
    return caption, phrases, num_seg


def mask_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every mask of ``a`` (P, H, W) with every mask of ``b`` (G, H, W) -> (P, G).

    A pair whose union is empty scores 0.
    """
    a = a.reshape(len(a), int(np.prod(a.shape[1:]))).astype(np.float64)
    b = b.reshape(len(b), int(np.prod(b.shape[1:]))).astype(np.float64)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def greedy_pairs(iou: np.ndarray) -> List[Tuple[int, int, float]]:
    """One-to-one pairs by highest IoU first, IoU > 0 only: ``[(row, col, iou), ...]``."""
    iou = iou.astype(np.float64).copy()
    pairs = []
    while iou.size and iou.max() > 0:
        r, c = np.unravel_index(np.argmax(iou), iou.shape)
        pairs.append((int(r), int(c), float(iou[r, c])))
        iou[r, :] = 0
        iou[:, c] = 0
    return pairs


def image_miou(pred: np.ndarray, gt: np.ndarray) -> float:
    """GLaMM's per-image mIoU: mean IoU of :func:`greedy_pairs`, 0 without a pair."""
    pairs = greedy_pairs(mask_iou_matrix(pred, gt))
    return float(np.mean([p[2] for p in pairs])) if pairs else 0.0


def exact_phrase_similarity(a: str, b: str) -> float:
    """1 when the two phrases have the same words (case and punctuation ignored), else 0."""
    return float(simple_tokenize(a) == simple_tokenize(b))


def token_overlap_similarity(a: str, b: str) -> float:
    """Word-overlap F1 of two phrases (case and punctuation ignored): 2|A∩B| / (|A| + |B|)
    over word multisets; 1 for two empty phrases."""
    wa, wb = simple_tokenize(a), simple_tokenize(b)
    if not wa and not wb:
        return 1.0
    common = sum(min(wa.count(w), wb.count(w)) for w in set(wa))
    return 2.0 * common / (len(wa) + len(wb))


#: Built-in phrase matchers by name (see :func:`get_phrase_matcher`).
PHRASE_MATCHERS: Dict[str, Callable[[str, str], float]] = {
    'exact': exact_phrase_similarity,
    'token_overlap': token_overlap_similarity,
}


def get_phrase_matcher(matcher: Union[str, Callable[[str, str], float]]
                       ) -> Callable[[str, str], float]:
    """A phrase similarity ``f(gt_phrase, pred_phrase) -> float`` by name or as given."""
    if callable(matcher):
        return matcher
    if matcher not in PHRASE_MATCHERS:
        raise ValueError(f'phrase_matcher must be a callable or one of '
                         f'{sorted(PHRASE_MATCHERS)}, got {matcher!r}')
    return PHRASE_MATCHERS[matcher]


def grounded_matches(gt_masks: np.ndarray, gt_phrases: Sequence[str], pred_masks: np.ndarray,
                     pred_phrases: Sequence[str], similarity: Callable[[str, str], float],
                     iou_threshold: float = 0.5, text_threshold: float = 0.5
                     ) -> List[Tuple[int, int]]:
    """GLaMM's recall matching of one image: ``[(gt_idx, pred_idx), ...]``.

    Masks pair by highest IoU first; a pair is admitted when IoU >= ``iou_threshold`` and
    the phrases' similarity >= ``text_threshold``; the first highest-IoU pair that fails
    ends the matching (GLaMM's rule). Phrase k belongs to mask k on each side; a side with
    fewer phrases than masks gives the extra masks similarity 0.
    """
    if len(gt_masks) == 0 or len(pred_masks) == 0:
        return []
    iou = mask_iou_matrix(gt_masks, pred_masks)
    sims = np.zeros_like(iou)
    for i in range(min(len(gt_phrases), len(gt_masks))):
        for j in range(min(len(pred_phrases), len(pred_masks))):
            sims[i, j] = similarity(gt_phrases[i], pred_phrases[j])
    matches = []
    while iou.size:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[i, j] < iou_threshold or sims[i, j] < text_threshold:
            break
        matches.append((int(i), int(j)))
        iou[i, :] = 0
        iou[:, j] = 0
        sims[i, :] = 0
        sims[:, j] = 0
    return matches
