"""A held-out split of the synthetic RefCOCO set: words and combinations never trained on.

The images are those of :func:`~desa2va_mm.synthetic.refcoco_writer.make_synthetic_refcoco`;
only which sentences each split keeps changes:

* held-out **words**: :data:`HELDOUT_WORDS`, synonyms whose twin stays in training
  (``big`` / ``large``, ``biggest`` / ``largest``, ``to`` of ``"to the left of"`` /
  ``"left of"``);
* held-out **combinations**: :data:`HELDOUT_COMBINATIONS`, colour + shape pairs (``"red
  star"``) whose colour and shape words appear in training, never together.

Sentences with any held-out item go to the held-out split only; training and validation
keep the others. The word-level tokenizer knows every word (its list is
:data:`~desa2va_mm.synthetic.vocabulary.REFCOCO_VOCABULARY`), so a held-out word has an
embedding row that training never updates: a cross-vocabulary generalisation check at
tiny scale.
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .coco_io import write_json
from .refcoco_writer import make_synthetic_refcoco

__all__ = ['HELDOUT_WORDS', 'HELDOUT_COMBINATIONS', 'HELDOUT_FILE', 'HELDOUT_SPLITS',
           'heldout_items', 'make_heldout_refcoco']

#: Words no training sentence contains.
HELDOUT_WORDS: Tuple[str, ...] = ('big', 'biggest', 'to')
#: (colour, shape) pairs no training sentence names together; one per shape.
HELDOUT_COMBINATIONS: Tuple[Tuple[str, str], ...] = (
    ('red', 'star'), ('blue', 'circle'), ('green', 'hexagon'), ('yellow', 'triangle'),
    ('purple', 'square'))
#: Default splits: train and val without any held-out item, heldout with one at least.
HELDOUT_SPLITS: Tuple[Tuple[str, float], ...] = (('train', 0.7), ('val', 0.1),
                                                 ('heldout', 0.2))
#: Sidecar naming the held-out items and splits, beside the annotation file.
HELDOUT_FILE = 'refcoco/heldout.json'


def heldout_items(sentence: str) -> List[str]:
    """The held-out items a sentence contains, e.g. ``['red star', 'big']``.

    Args:
        sentence: A generated sentence (``sent``: lower-case words split by spaces).

    Returns:
        Held-out combinations (``'colour shape'``, as adjacent words) then held-out words,
        in table order; empty when the sentence may be trained on.
    """
    words = sentence.split()
    pairs = set(zip(words, words[1:]))
    return ([f'{c} {s}' for c, s in HELDOUT_COMBINATIONS if (c, s) in pairs]
            + [w for w in HELDOUT_WORDS if w in words])


def make_heldout_refcoco(out_dir: str, num_images: int, seed: int, image_size: int = 128,
                         split_fractions: Sequence[Tuple[str, float]] = HELDOUT_SPLITS,
                         heldout_splits: Sequence[str] = ('heldout', ),
                         jpeg_quality: int = 95,
                         progress: Optional[Callable[[int, int], None]] = None
                         ) -> Dict[str, Any]:
    """Write the synthetic RefCOCO set with held-out splits (module docstring).

    Args:
        out_dir, num_images, seed, image_size, jpeg_quality, progress: As
            :func:`make_synthetic_refcoco`.
        split_fractions: ``(name, fraction)`` pairs of every split.
        heldout_splits: Names among them that keep only sentences with a held-out item;
            the others keep only sentences without one.

    Returns:
        :func:`make_synthetic_refcoco`'s summary plus ``heldout``: the sidecar's content.

    Raises:
        ValueError: A held-out split name is not among the splits, or every split is one.
    """
    names = [name for name, _ in split_fractions]
    unknown = [h for h in heldout_splits if h not in names]
    if unknown or not heldout_splits:
        raise ValueError(f'heldout_splits must name one or more of the splits {names}, got '
                         f'{list(heldout_splits)}')
    if set(names) <= set(heldout_splits):
        raise ValueError(f'every split {names} is held out: keep one to train on')
    held = set(heldout_splits)

    def keep(split: str, sentence: str) -> bool:
        return bool(heldout_items(sentence)) == (split in held)

    summary = make_synthetic_refcoco(out_dir, num_images, seed, image_size=image_size,
                                     split_fractions=split_fractions,
                                     jpeg_quality=jpeg_quality, progress=progress,
                                     keep_sentence=keep)
    info = dict(words=list(HELDOUT_WORDS),
                combinations=[f'{c} {s}' for c, s in HELDOUT_COMBINATIONS],
                heldout_splits=list(heldout_splits))
    write_json(osp.join(out_dir, HELDOUT_FILE), info)
    summary['heldout'] = info
    return summary
