"""Compare a checkpoint's state dict with a model's and fail with every bad key named.

PyTorch's ``load_state_dict(strict=False)`` (what MMEngine's ``load_from`` uses) only warns
about a tensor whose shape differs and leaves the model's value in place: a 1B checkpoint
loaded into a 4B config would "load" and train from random heads. Here a shape mismatch
is always an error naming the key and both shapes, and missing / unexpected keys are
errors unless the caller says they are expected.
"""
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

__all__ = ['StateDictMismatchError', 'compare_state_dicts', 'check_state_dict',
           'raise_on_shape_mismatch']


class StateDictMismatchError(RuntimeError):
    """A state dict does not fit a model; the message lists every offending key."""


def _shape(value) -> Tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, 'shape') else tuple(value)


def compare_state_dicts(
        expected: Mapping[str, object],
        given: Mapping[str, object]) -> Tuple[List[str], List[str], List[str]]:
    """Keys missing from ``given``, keys ``given`` has in excess, and shape mismatches.

    Args:
        expected: The model's keys -> tensors (or shapes).
        given: The checkpoint's keys -> tensors (or shapes).

    Returns:
        ``(missing, unexpected, mismatched)``; ``mismatched`` entries read
        ``'<key>: checkpoint (a, b) vs model (c, d)'``.
    """
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = [f'{k}: checkpoint {_shape(given[k])} vs model {_shape(expected[k])}'
                  for k in sorted(set(expected) & set(given))
                  if _shape(given[k]) != _shape(expected[k])]
    return missing, unexpected, mismatched


def _matches(key: str, prefixes: Optional[Iterable[str]]) -> bool:
    return prefixes is not None and any(key.startswith(p) for p in prefixes)


def check_state_dict(expected: Mapping[str, object],
                     given: Mapping[str, object],
                     *,
                     source: str = 'checkpoint',
                     allowed_missing: Optional[Sequence[str]] = None,
                     allowed_unexpected: Optional[Sequence[str]] = None,
                     max_listed: int = 50) -> Tuple[List[str], List[str]]:
    """Raise :class:`StateDictMismatchError` unless ``given`` fits ``expected``.

    Args:
        expected: The model's state dict (or key -> shape).
        given: The state dict to load.
        source: What ``given`` is (a file name), for the message.
        allowed_missing: Key prefixes that may be absent from ``given`` (e.g. modules that
            start fresh); None allows none.
        allowed_unexpected: Key prefixes of ``given`` that are ignored; None allows none.
        max_listed: Longest list printed per category.

    Returns:
        ``(missing, unexpected)`` that were allowed, for the caller's report.
    """
    missing, unexpected, mismatched = compare_state_dicts(expected, given)
    bad_missing = [k for k in missing if not _matches(k, allowed_missing)]
    bad_unexpected = [k for k in unexpected if not _matches(k, allowed_unexpected)]
    if bad_missing or bad_unexpected or mismatched:
        def listing(keys):
            more = f' ... and {len(keys) - max_listed} more' if len(keys) > max_listed else ''
            return '\n    '.join(keys[:max_listed]) + more

        parts = [f'{source} does not match the model:']
        if mismatched:
            parts.append(f'  shape mismatches ({len(mismatched)}):\n    {listing(mismatched)}')
        if bad_missing:
            parts.append(f'  missing keys ({len(bad_missing)}):\n    {listing(bad_missing)}')
        if bad_unexpected:
            parts.append(f'  unexpected keys ({len(bad_unexpected)}):\n    '
                         f'{listing(bad_unexpected)}')
        raise StateDictMismatchError('\n'.join(parts))
    return ([k for k in missing if k not in bad_missing],
            [k for k in unexpected if k not in bad_unexpected])


#: Token-row tables: a tokenizer that grew by appending tokens keeps every old id, so a
#: checkpoint made before the growth fills the first rows and the new rows keep their init.
TOKEN_ROW_SUFFIXES = ('embed_tokens.weight', 'lm_head.weight')


def _grow_token_rows(own: Mapping[str, torch.Tensor], state_dict: dict) -> None:
    for key, value in list(state_dict.items()):
        if not key.endswith(TOKEN_ROW_SUFFIXES) or key not in own:
            continue
        target = own[key]
        if (hasattr(value, 'shape') and value.dim() == 2 and target.dim() == 2
                and value.shape[1] == target.shape[1] and value.shape[0] < target.shape[0]):
            grown = target.detach().clone()
            grown[:value.shape[0]] = value.to(grown.dtype)
            state_dict[key] = grown


def raise_on_shape_mismatch(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor],
                            prefix: str, *args, **kwargs) -> None:
    """``load_state_dict`` pre-hook: any shape mismatch is an error naming both shapes.

    Register with ``module.register_load_state_dict_pre_hook(raise_on_shape_mismatch)``.
    Missing and unexpected keys keep the caller's ``strict`` semantics (MMEngine's
    ``load_from`` is non-strict: a phase checkpoint holds only what that phase trained).
    One growth is allowed: a token-embedding / LM-head table with fewer rows than the model
    (its tokenizer appended tokens since, e.g. the tiny ``synthetic_mevis`` word list over
    ``synthetic_refcoco``'s) fills the model's first rows; the new rows keep their init.
    """
    own = {prefix + k: v for k, v in module.state_dict(keep_vars=True).items()}
    _grow_token_rows(own, state_dict)
    # A module's extra state (``<prefix>_extra_state``, e.g. CLUB's serialised estimator
    # optimizer) has no fixed shape; its own ``set_extra_state`` reads it.
    given = {k: v for k, v in state_dict.items()
             if k in own and hasattr(v, 'shape') and not k.endswith('_extra_state')}
    mismatched = compare_state_dicts({k: own[k] for k in given}, given)[2]
    if mismatched:
        raise StateDictMismatchError(
            'checkpoint does not match the model: shape mismatches '
            f'({len(mismatched)}):\n    ' + '\n    '.join(mismatched[:50]))
