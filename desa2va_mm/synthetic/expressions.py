"""Referring expressions of the image generator: programs, rendering, parsing, resolving.

A program is a small JSON-able dict::

    {'type': 'attr', 'head': H}
    {'type': 'superlative', 'which': 'leftmost'|..., 'head': H}
    {'type': 'absolute', 'position': 'left'|'right'|'top'|'bottom', 'head': H}
    {'type': 'relation', 'relation': 'left'|'right'|'above'|'below',
     'head': H, 'anchor': H}

where a head H has any of the keys 'size', 'color', 'shape' (a missing 'shape' is
rendered with the generic noun "shape"). :func:`parse_expression` turns a sentence back
into its program and :func:`resolve_expression` evaluates a program on a
:class:`~desa2va_mm.synthetic.scenes.Scene`, so any consumer can re-check that a sentence
names its object.
"""
from __future__ import annotations

import collections
import itertools
import math
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np

from .scenes import Scene, SceneObject
from .vocabulary import (ABSOLUTE_PHRASES, COLORS, GENERIC_NOUN, RELATION_PHRASES, SHAPES,
                         SIZE_WORDS, SUPERLATIVE_WORDS)

__all__ = [
    'Program', 'surface_forms', 'render_expression', 'parse_expression', 'expression_kind',
    'resolve_expression', 'is_unambiguous', 'enumerate_expressions',
    'sample_referring_expressions'
]

Program = Dict[str, Any]

# Resolver thresholds, as fractions of the image side. A program is valid for
# a target only if the *lenient* reading (anything a reader might accept)
# and the *strict* reading (only clear cases) both give exactly that target,
# so borderline configurations never produce an expression.
_REL_MARGIN_LENIENT = 0.03
_REL_MARGIN_STRICT = 0.10
_SUPERLATIVE_POS_MARGIN = 0.10
_SUPERLATIVE_SIZE_RATIO = 1.5
_ABSOLUTE_LENIENT = 0.55
_ABSOLUTE_STRICT = 0.40


def _head_forms(head: Dict[str, str]) -> List[str]:
    size_words = SIZE_WORDS[head['size']] if 'size' in head else ('', )
    color = head.get('color', '')
    noun = head.get('shape', GENERIC_NOUN)
    return [' '.join(w for w in (s, color, noun) if w) for s in size_words]


def surface_forms(program: Program) -> List[str]:
    """All sentences that express a program (synonyms, phrasings).

    Args:
        program: An expression program.

    Returns:
        Distinct sentences; the first one is the canonical rendering.
    """
    kind = program['type']
    heads = _head_forms(program['head'])
    if kind == 'attr':
        return [f'the {h}' for h in heads]
    if kind == 'superlative':
        return [
            f'the {w} {h}'
            for w, h in itertools.product(SUPERLATIVE_WORDS[program['which']],
                                          heads)
        ]
    if kind == 'absolute':
        return [
            f'the {h} {p}' for h, p in itertools.product(
                heads, ABSOLUTE_PHRASES[program['position']])
        ]
    if kind == 'relation':
        return [
            f'the {h} {p} the {a}' for h, p, a in itertools.product(
                heads, RELATION_PHRASES[program['relation']],
                _head_forms(program['anchor']))
        ]
    raise ValueError(f'unknown program type {kind!r}')


def render_expression(program: Program) -> str:
    """Canonical sentence of a program."""
    return surface_forms(program)[0]


def _lookup(table: Dict[str, Tuple[str, ...]]) -> Dict[Tuple[str, ...], str]:
    return {
        tuple(phrase.split()): key
        for key, phrases in table.items() for phrase in phrases
    }


_SIZE_LOOKUP = {w: k for k, ws in SIZE_WORDS.items() for w in ws}
_SUPERLATIVE_LOOKUP = {w: k for k, ws in SUPERLATIVE_WORDS.items() for w in ws}
_ABSOLUTE_LOOKUP = _lookup(ABSOLUTE_PHRASES)
_RELATION_LOOKUP = _lookup(RELATION_PHRASES)


def _parse_head(tokens: List[str], pos: int,
                text: str) -> Tuple[Dict[str, str], int]:
    head: Dict[str, str] = {}
    if pos < len(tokens) and tokens[pos] in _SIZE_LOOKUP:
        head['size'] = _SIZE_LOOKUP[tokens[pos]]
        pos += 1
    if pos < len(tokens) and tokens[pos] in COLORS:
        head['color'] = tokens[pos]
        pos += 1
    if pos >= len(tokens) or tokens[pos] not in SHAPES + (GENERIC_NOUN, ):
        raise ValueError(f'expected a shape noun at word {pos} of {text!r}')
    if tokens[pos] != GENERIC_NOUN:
        head['shape'] = tokens[pos]
    return head, pos + 1


def parse_expression(text: str) -> Program:
    """Parse a generated sentence back into its program.

    Args:
        text: A sentence produced by the generator (case-insensitive).

    Returns:
        The program; ``render``-ing it gives back an equivalent sentence.

    Raises:
        ValueError: If the sentence is not in the generator's grammar.
    """
    tokens = text.lower().split()
    if not tokens or tokens[0] != 'the':
        raise ValueError(f'expression must start with "the": {text!r}')
    pos, which = 1, None
    if pos < len(tokens) and tokens[pos] in _SUPERLATIVE_LOOKUP:
        which = _SUPERLATIVE_LOOKUP[tokens[pos]]
        pos += 1
    head, pos = _parse_head(tokens, pos, text)
    rest = tuple(tokens[pos:])
    if which is not None:
        if rest:
            raise ValueError(f'unexpected words after superlative: {text!r}')
        return {'type': 'superlative', 'which': which, 'head': head}
    if not rest:
        return {'type': 'attr', 'head': head}
    if rest in _ABSOLUTE_LOOKUP:
        return {
            'type': 'absolute',
            'position': _ABSOLUTE_LOOKUP[rest],
            'head': head
        }
    for phrase, relation in _RELATION_LOOKUP.items():
        n = len(phrase)
        if rest[:n] == phrase and rest[n:n + 1] == ('the', ):
            anchor, end = _parse_head(tokens, pos + n + 1, text)
            if end != len(tokens):
                raise ValueError(f'unexpected words after anchor: {text!r}')
            return {
                'type': 'relation',
                'relation': relation,
                'head': head,
                'anchor': anchor
            }
    raise ValueError(f'cannot parse expression {text!r}')


def expression_kind(program: Program) -> str:
    """A coarse label of a program, for statistics and tests.

    Returns:
        ``'superlative'``, ``'absolute'``, ``'relation'``, or for attribute
        programs the attributes used joined by ``_`` (e.g. ``'shape'``,
        ``'color_shape'``, ``'size_color_shape'``, ``'color'``).
    """
    if program['type'] != 'attr':
        return program['type']
    return '_'.join(k for k in ('size', 'color', 'shape')
                    if k in program['head'])


def _matches(head: Dict[str, str], obj: SceneObject) -> bool:
    # A plain loop: this is the generator's innermost call.
    for key, value in head.items():
        if getattr(obj, key) != value:
            return False
    return True


def _related(relation: str, obj: SceneObject, anchor: SceneObject,
             size: int, strict: bool) -> bool:
    """Whether ``obj`` is ``relation`` (left/right/above/below) of ``anchor``."""
    dx, dy = obj.cx - anchor.cx, obj.cy - anchor.cy
    along, across = {
        'left': (-dx, dy),
        'right': (dx, dy),
        'above': (-dy, dx),
        'below': (dy, dx)
    }[relation]
    if not strict:
        return along > _REL_MARGIN_LENIENT * size
    # Clear cases only: well separated along the axis, and within 45 degrees
    # of it (a shape far below-left is not "left of" in a clear sense).
    return along > _REL_MARGIN_STRICT * size and along > abs(across)


def resolve_expression(program: Program,
                       scene: Scene,
                       strict: bool = False) -> List[int]:
    """Objects of a scene that an expression program refers to.

    The lenient reading (default) returns every object a reader could take the
    expression to mean, including borderline ones (near ties of a superlative,
    objects only slightly left of an anchor...). The strict reading returns only
    clear cases. An expression is unambiguous for object ``i`` when both
    readings return ``[i]``.

    Args:
        program: An expression program (see :func:`parse_expression`).
        scene: The scene to evaluate it on.
        strict: Use the strict reading.

    Returns:
        Sorted indices into ``scene.objects``.
    """
    objs, size = scene.objects, scene.image_size
    cands = [i for i, o in enumerate(objs) if _matches(program['head'], o)]
    kind = program['type']
    if kind == 'attr':
        return cands
    if kind == 'superlative':
        if not cands:
            return []
        which = program['which']
        if which in ('largest', 'smallest'):
            sign = -1.0 if which == 'largest' else 1.0
            keys = [sign * math.log(objs[i].full_area) for i in cands]
            margin = math.log(_SUPERLATIVE_SIZE_RATIO)
        else:
            attr, sign = {
                'leftmost': ('cx', 1.0),
                'rightmost': ('cx', -1.0),
                'topmost': ('cy', 1.0),
                'bottommost': ('cy', -1.0)
            }[which]
            keys = [sign * getattr(objs[i], attr) for i in cands]
            margin = _SUPERLATIVE_POS_MARGIN * size
        best = min(keys)
        close = [i for i, k in zip(cands, keys) if k < best + margin]
        return close if (not strict or len(close) == 1) else []
    if kind == 'absolute':
        bound = (_ABSOLUTE_STRICT if strict else _ABSOLUTE_LENIENT) * size
        attr, sign = {
            'left': ('cx', 1.0),
            'right': ('cx', -1.0),
            'top': ('cy', 1.0),
            'bottom': ('cy', -1.0)
        }[program['position']]
        # For right/bottom mirror the coordinate: x < b  <=>  size - x < b.
        return [
            i for i in cands
            if (getattr(objs[i], attr) if sign > 0 else size -
                getattr(objs[i], attr)) < bound
        ]
    if kind == 'relation':
        anchors = resolve_expression({
            'type': 'attr',
            'head': program['anchor']
        }, scene)
        if strict and len(anchors) != 1:
            return []
        return sorted({
            i
            for a in anchors for i in cands if i != a and _related(
                program['relation'], objs[i], objs[a], size, strict)
        })
    raise ValueError(f'unknown program type {kind!r}')


def is_unambiguous(program: Program, scene: Scene, index: int) -> bool:
    return (resolve_expression(program, scene) == [index]
            and resolve_expression(program, scene, strict=True) == [index])


def _simpler_heads(head: Dict[str, str]) -> Iterable[Dict[str, str]]:
    """Heads with fewer adjectives and the same noun ("the circle" for "the
    red circle"); the noun itself is never counted as redundant because
    "the red circle" reads more naturally than "the red shape"."""
    adjectives = [k for k in head if k != 'shape']
    for n in range(len(adjectives)):
        for combo in itertools.combinations(adjectives, n):
            sub = {k: head[k] for k in combo}
            if 'shape' in head:
                sub['shape'] = head['shape']
            if sub:
                yield sub


def enumerate_expressions(scene: Scene,
                          index: int) -> List[Tuple[Program, float]]:
    """Every unambiguous program for one object, with a preference weight.

    Weights favour programs whose extra parts are needed (the attributes are
    minimal, or the relation / superlative disambiguates a head that alone is
    ambiguous) over trivially short or redundant ones.

    Args:
        scene: The scene.
        index: Index of the target object.

    Returns:
        ``(program, weight)`` pairs, deterministic order.
    """
    obj = scene.objects[index]
    out: List[Tuple[Program, float]] = []

    def attr(head: Dict[str, str]) -> Program:
        return {'type': 'attr', 'head': head}

    # Attribute descriptions; "the small circle" etc. are minimal when no
    # subset of their adjectives already singles the object out.
    attr_heads = [{'shape': obj.shape}, {'color': obj.color},
                  {'size': obj.size},
                  {'color': obj.color, 'shape': obj.shape},
                  {'size': obj.size, 'shape': obj.shape},
                  {'size': obj.size, 'color': obj.color},
                  {'size': obj.size, 'color': obj.color, 'shape': obj.shape}]
    unique = [h for h in attr_heads if is_unambiguous(attr(h), scene, index)]
    for head in unique:
        minimal = not any(
            is_unambiguous(attr(sub), scene, index)
            for sub in _simpler_heads(head))
        if list(head) == ['shape']:
            weight = 1.0  # valid but trivial: keep it rare
        else:
            weight = 3.0 if minimal else 0.2
        out.append((attr(head), weight))

    def needed(head: Dict[str, str]) -> bool:
        return not is_unambiguous(attr(head), scene, index)

    context_heads = [{'shape': obj.shape}, {'color': obj.color},
                     {'color': obj.color, 'shape': obj.shape}]
    # Superlatives only over two or more objects: "the largest triangle"
    # with one triangle in sight is odd, however true.
    group_heads = [
        h for h in [{}] + context_heads
        if len(resolve_expression(attr(h), scene)) >= 2
    ]
    for which in SUPERLATIVE_WORDS:
        for head in group_heads:
            prog = {'type': 'superlative', 'which': which, 'head': head}
            if is_unambiguous(prog, scene, index):
                out.append((prog, 3.0 if needed(head) else 0.3))
    for position in ABSOLUTE_PHRASES:
        for head in context_heads:
            prog = {'type': 'absolute', 'position': position, 'head': head}
            if is_unambiguous(prog, scene, index):
                # Fewer of these: "on the left" is coarse.
                out.append((prog, 1.5 if needed(head) else 0.2))
    for a, anchor in enumerate(scene.objects):
        if a == index:
            continue
        relations = [
            r for r in RELATION_PHRASES
            if _related(r, obj, anchor, scene.image_size, strict=True)
        ]
        if not relations:
            continue  # cheap pre-filter before the full resolve
        anchor_heads = [
            h for h in ({'shape': anchor.shape}, {'color': anchor.color},
                        {'color': anchor.color, 'shape': anchor.shape})
            if is_unambiguous(attr(h), scene, a)
        ][:2]  # the two simplest unique names of the anchor are plenty
        for relation in relations:
            for anchor_head in anchor_heads:
                for head in context_heads:
                    prog = {
                        'type': 'relation',
                        'relation': relation,
                        'head': head,
                        'anchor': anchor_head
                    }
                    if is_unambiguous(prog, scene, index):
                        out.append((prog, 3.5 if needed(head) else 0.3))
    return out


def _family(program: Program) -> str:
    """Coarse kind used to diversify the sentences of one ref."""
    kind = expression_kind(program)
    if kind in ('superlative', 'absolute', 'relation', 'shape'):
        return kind
    return 'attribute'


def _weighted_pick(rng: np.random.Generator, weights: Sequence[float]) -> int:
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def sample_referring_expressions(
        scene: Scene, rng: np.random.Generator,
        max_refs: int = 3) -> List[Tuple[int, List[Tuple[str, Program]]]]:
    """Choose objects to refer to and 2-3 distinct sentences for each.

    Objects whose shape is shared get picked first more often (they need
    attributes or relations to be named). Sentences of one ref prefer
    different kinds of description, then different phrasings.

    Args:
        scene: The scene.
        rng: Random generator (consumed deterministically).
        max_refs: Upper bound of refs; the count is drawn from 1..max_refs.

    Returns:
        ``(object index, [(sentence, program), ...])`` per ref; may be empty
        when no object has two distinct unambiguous descriptions.
    """
    objs = scene.objects
    num_refs = int(rng.integers(1, max_refs + 1))
    shape_counts = collections.Counter(o.shape for o in objs)
    weights = np.array([2.0 if shape_counts[o.shape] > 1 else 1.0 for o in objs])
    order = rng.choice(len(objs), size=len(objs), replace=False,
                       p=weights / weights.sum())
    refs = []
    for index in order.tolist():
        pool = enumerate_expressions(scene, index)
        if sum(len(surface_forms(p)) for p, _ in pool) < 2:
            continue
        want = int(rng.integers(2, 4))
        chosen: List[Tuple[str, Program]] = []
        # Pick a family first, then a program in it: relations alone can
        # number dozens per object and would otherwise crowd out the rest.
        families: Dict[str, List[Tuple[Program, float]]] = {}
        for program, weight in pool:
            families.setdefault(_family(program), []).append((program, weight))
        used: collections.Counter = collections.Counter()
        while families and len(chosen) < want:
            names = list(families)
            name = names[_weighted_pick(rng, [
                max(w for _, w in families[n]) * 0.15**used[n] for n in names
            ])]
            members = families[name]
            program, _ = members.pop(
                _weighted_pick(rng, [w for _, w in members]))
            if not members:
                del families[name]
            used[name] += 1
            forms = surface_forms(program)
            chosen.append((forms[int(rng.integers(len(forms)))], program))
        # Too few distinct programs: add other phrasings of the chosen ones.
        spare = [(f, p) for _, p in chosen for f in surface_forms(p)
                 if f not in {s for s, _ in chosen}]
        while spare and len(chosen) < want:
            chosen.append(spare.pop(int(rng.integers(len(spare)))))
        refs.append((index, chosen))
        if len(refs) == num_refs:
            break
    return refs
