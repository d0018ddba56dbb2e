"""Words and visual attributes of the synthetic generators (standard library only).

Everything a generated sentence can contain is defined here, so the word-level tokenizer
of the tiny configs (:mod:`desa2va_mm.tokenization`) reads the exact word lists the
generators write from this one file without importing NumPy, OpenCV or the generators.

* RefCOCO-style images: shapes, colours and size classes, and the phrases of the
  expression grammar (attributes, superlatives, absolute positions, relations);
  :data:`REFCOCO_VOCABULARY` is every word they can produce.
* MeViS-style videos add motion kinds, directions, plural nouns and motion phrases;
  :data:`MEVIS_VOCABULARY` is a superset of the RefCOCO one.
"""
from typing import Dict, Tuple

__all__ = [
    'SHAPES', 'COLORS', 'SIZES', 'GENERIC_NOUN', 'SIZE_WORDS', 'SUPERLATIVE_WORDS',
    'ABSOLUTE_PHRASES', 'RELATION_PHRASES', 'REFCOCO_VOCABULARY', 'MOTIONS', 'DIRECTIONS',
    'PLURALS', 'MOTION_PHRASES', 'PLURAL_MOTION_PHRASES', 'MEVIS_VOCABULARY'
]

# ---------------------------------------------------------------------------
# Visual vocabulary
# ---------------------------------------------------------------------------
#: Shape names; one COCO category each (category id = position + 1).
SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star', 'hexagon')

#: Named colours (RGB). Hues are far apart and saturated, while the background
#: is a low-saturation grey, so every name is unambiguous even after JPEG.
COLORS: Dict[str, Tuple[int, int, int]] = {
    'red': (215, 40, 40),
    'green': (40, 165, 60),
    'blue': (40, 90, 215),
    'yellow': (235, 210, 45),
    'purple': (135, 60, 175),
    'orange': (240, 135, 30),
}

#: Size classes -> range of the equal-area radius as a fraction of the image
#: side. The ranges are > 1.75x apart so "small" vs "large" is obvious.
SIZES: Dict[str, Tuple[float, float]] = {
    'small': (0.065, 0.085),
    'large': (0.15, 0.185),
}

# ---------------------------------------------------------------------------
# Language of the image expressions
# ---------------------------------------------------------------------------
#: Noun of a head without a shape ("the red shape").
GENERIC_NOUN = 'shape'
#: Size class -> its words (first = canonical).
SIZE_WORDS: Dict[str, Tuple[str, ...]] = {'small': ('small', ), 'large': ('large', 'big')}
#: Superlative -> its words.
SUPERLATIVE_WORDS: Dict[str, Tuple[str, ...]] = {
    'leftmost': ('leftmost', ),
    'rightmost': ('rightmost', ),
    'topmost': ('topmost', ),
    'bottommost': ('bottommost', ),
    'largest': ('largest', 'biggest'),
    'smallest': ('smallest', ),
}
#: Absolute position -> its phrases.
ABSOLUTE_PHRASES: Dict[str, Tuple[str, ...]] = {
    'left': ('on the left', ),
    'right': ('on the right', ),
    'top': ('at the top', ),
    'bottom': ('at the bottom', ),
}
#: Spatial relation -> its phrases.
RELATION_PHRASES: Dict[str, Tuple[str, ...]] = {
    'left': ('left of', 'to the left of'),
    'right': ('right of', 'to the right of'),
    'above': ('above', ),
    'below': ('below', ),
}


def _refcoco_vocabulary() -> Tuple[str, ...]:
    words = {'the', GENERIC_NOUN, *SHAPES, *COLORS}
    for table in (SIZE_WORDS, SUPERLATIVE_WORDS, ABSOLUTE_PHRASES, RELATION_PHRASES):
        for phrases in table.values():
            for phrase in phrases:
                words.update(phrase.split())
    return tuple(sorted(words))


#: Every word the image generator can emit, sorted (for word-level tokenizers).
REFCOCO_VOCABULARY: Tuple[str, ...] = _refcoco_vocabulary()

# ---------------------------------------------------------------------------
# Language of the video expressions
# ---------------------------------------------------------------------------
#: Motion kinds of an object over the video.
MOTIONS: Tuple[str, ...] = ('static', 'moving', 'stops', 'enters', 'leaves')
#: Directions of motion (image y grows downwards: 'up' is -y).
DIRECTIONS: Dict[str, Tuple[int, int]] = {
    'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}
#: Noun -> plural ("the circles moving up").
PLURALS: Dict[str, str] = {
    s: s + 'es' if s.endswith('x') else s + 's' for s in SHAPES + (GENERIC_NOUN, )}
#: Motion -> its phrase for one object ('moving' is "moving <direction>").
MOTION_PHRASES: Dict[str, str] = {
    'stops': 'that stops',
    'enters': 'that enters the frame',
    'leaves': 'that leaves the frame',
    'static': 'that does not move',
}
#: Motion -> its phrase for several objects.
PLURAL_MOTION_PHRASES: Dict[str, str] = {
    'stops': 'that stop',
    'enters': 'that enter the frame',
    'leaves': 'that leave the frame',
    'static': 'that do not move',
}


def _mevis_vocabulary() -> Tuple[str, ...]:
    words = set(REFCOCO_VOCABULARY) | set(DIRECTIONS) | {'moving'} | set(PLURALS.values())
    for phrase in (*MOTION_PHRASES.values(), *PLURAL_MOTION_PHRASES.values()):
        words.update(phrase.split())
    return tuple(sorted(words))


#: Every word the video or the image generator can write (a superset of
#: :data:`REFCOCO_VOCABULARY`, for the tiny word tokenizer's ``'synthetic_mevis'`` list).
MEVIS_VOCABULARY: Tuple[str, ...] = _mevis_vocabulary()
