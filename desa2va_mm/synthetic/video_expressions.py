"""Referring expressions of the video generator: motion, attribute and plural programs.

A program: ``{'head': {'color'?, 'shape'?, 'size'?}, 'motion': M or None, 'direction': D
or None, 'plural': bool}``; motion None is a static attribute expression, ``'moving'``
needs a direction. Objects are :class:`~desa2va_mm.synthetic.videos.VideoObject` dicts.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .vocabulary import MOTION_PHRASES, PLURAL_MOTION_PHRASES, PLURALS

__all__ = [
    'render_video_expression', 'resolve_video_expression', 'pick_video_expressions',
    'needs_motion'
]

Program = Dict[str, Any]


def render_video_expression(program: Program) -> str:
    """The sentence of a program, e.g. ``'the red circle moving left'``."""
    head = program['head']
    noun = head.get('shape', 'shape')
    if program.get('plural'):
        noun = PLURALS[noun]
    words = ['the', head.get('size', ''), head.get('color', ''), noun]
    text = ' '.join(w for w in words if w)
    motion = program.get('motion')
    if motion == 'moving':
        return f"{text} moving {program['direction']}"
    if motion is not None:
        phrases = PLURAL_MOTION_PHRASES if program.get('plural') else MOTION_PHRASES
        return f'{text} {phrases[motion]}'
    return text


def _head_matches(head: Dict[str, str], obj: dict) -> bool:
    return all(obj[k] == v for k, v in head.items())


def resolve_video_expression(program: Program, objects: Sequence[dict],
                             lenient: bool = True) -> List[int]:
    """Indices of the objects a program names.

    ``'moving'`` + direction reads leniently by default: any object that moves in that
    direction at some point (moving, stopping, entering, leaving) matches, so an
    expression is only generated when no such distractor exists. ``lenient=False`` gives
    the generator's intended target (objects moving that way for the whole video).
    """
    out = []
    for i, obj in enumerate(objects):
        if not _head_matches(program['head'], obj):
            continue
        motion = program.get('motion')
        if motion is None:
            out.append(i)
        elif motion == 'moving':
            if obj['direction'] == program['direction'] and (
                    obj['motion'] != 'static' if lenient else obj['motion'] == 'moving'):
                out.append(i)
        elif obj['motion'] == motion:
            out.append(i)
    return out


def _heads(obj: dict) -> List[Dict[str, str]]:
    """Noun phrases naming an object, shortest first."""
    return [{}, {'shape': obj['shape']}, {'color': obj['color'], 'shape': obj['shape']},
            {'size': obj['size'], 'shape': obj['shape']},
            {'size': obj['size'], 'color': obj['color'], 'shape': obj['shape']}]


def _valid(program: Program, objects: Sequence[dict], target: List[int]) -> bool:
    return (resolve_video_expression(program, objects, lenient=True) == target
            == resolve_video_expression(program, objects, lenient=False))


def _candidate_programs(objects: Sequence[dict], rng: np.random.Generator
                        ) -> Dict[str, List[Tuple[Program, List[int]]]]:
    """Valid programs by family: 'motion', 'attribute', 'plural'.

    A motion expression's noun phrase is drawn among the valid ones whose attributes alone
    would be ambiguous ("the red circle moving left" when there are two red circles), so
    the motion is what singles the object out; attribute expressions use the shortest
    unambiguous noun phrase.
    """
    found: Dict[str, List[Tuple[Program, List[int]]]] = {
        'motion': [], 'attribute': [], 'plural': []}
    for i, obj in enumerate(objects):
        heads = _heads(obj)
        motion = [dict(head=h, motion=obj['motion'], plural=False,
                       direction=obj['direction'] if obj['motion'] == 'moving' else None)
                  for h in heads]
        motion = [p for p in motion if _valid(p, objects, [i])]
        needing = [p for p in motion
                   if resolve_video_expression(dict(p, motion=None), objects) != [i]]
        options = needing or motion
        if options:
            found['motion'].append((options[int(rng.integers(len(options)))], [i]))
        for head in heads[1:]:
            program = dict(head=head, motion=None, direction=None, plural=False)
            if _valid(program, objects, [i]):
                found['attribute'].append((program, [i]))
                break
    kinds = sorted({(o['motion'], o['direction'] if o['motion'] == 'moving' else None)
                    for o in objects}, key=str)
    for motion, direction in kinds:
        seen = set()
        for obj in objects:
            for head in _heads(obj)[:3]:
                key = tuple(sorted(head.items()))
                if key in seen:
                    continue
                seen.add(key)
                program = dict(head=head, motion=motion, direction=direction, plural=True)
                target = resolve_video_expression(program, objects, lenient=False)
                if len(target) >= 2 and _valid(program, objects, target):
                    found['plural'].append((program, target))
    return found


def pick_video_expressions(rng: np.random.Generator, objects: Sequence[dict],
                           max_expressions: int) -> List[Tuple[str, Program, List[int]]]:
    found = _candidate_programs(objects, rng)
    chosen: List[Tuple[Program, List[int]]] = []
    # Motion first (the point of MeViS), then a plural and an attribute expression.
    for family, quota in (('motion', max_expressions - 2), ('plural', 1), ('attribute', 1)):
        options = found[family]
        order = rng.permutation(len(options))[:quota]
        chosen += [options[int(k)] for k in order]
    chosen = chosen[:max_expressions]
    return [(render_video_expression(p), p, t) for p, t in chosen]


def needs_motion(program: Program, objects: Sequence[dict]) -> bool:
    """Whether the expression's noun phrase alone would name other objects too."""
    if program.get('motion') is None:
        return False
    return len(resolve_video_expression(dict(program, motion=None), objects)) > len(
        resolve_video_expression(program, objects))
