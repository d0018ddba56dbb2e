"""Let ``torch.load(weights_only=True)`` read MMEngine checkpoints, and nothing more.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: the checkpoint is
unpickled by a restricted unpickler that only creates / calls allow-listed globals, so
a malicious file cannot run code. MMEngine 0.10.7 calls ``torch.load`` without
``weights_only`` (``CheckpointLoader``, ``load_checkpoint``, ``Runner.resume``), and its
own checkpoints hold a few objects outside torch's default allow-list, so loading them
fails with ``UnpicklingError: Weights only load failed``.

:func:`register_checkpoint_safe_globals` allow-lists exactly what those checkpoints
contain, found by saving real checkpoints with a Runner (``IterBasedTrainLoop``,
``AdamW``, ``LinearLR`` + ``MultiStepLR``, ``CheckpointHook`` with ``save_best`` on a
metric returned as a NumPy scalar, before and after ``resume``) and listing their
globals with ``torch.serialization.get_unsafe_globals_in_checkpoint``:

``message_hub.log_scalars`` holds ``HistoryBuffer`` objects::

    mmengine.logging.history_buffer.HistoryBuffer
    builtins.getattr              (HistoryBuffer.__getstate__ pickles its statistics
                                   methods; pickle protocol 2 writes the method
                                   ``HistoryBuffer.min`` as ``getattr(HistoryBuffer,
                                   'min')``)

their ``_log_history`` (float64) and ``_count_history`` (int64) are NumPy arrays, and
``message_hub.runtime_info`` holds NumPy scalars (``best_score`` of ``save_best``,
``val/*`` metrics)::

    numpy._core.multiarray._reconstruct   (numpy >= 2 name)
    numpy.core.multiarray._reconstruct    (same function, name in numpy 1.x files)
    numpy.ndarray
    numpy._core.multiarray.scalar         (numpy >= 2 name)
    numpy.core.multiarray.scalar          (same function, name in numpy 1.x files)
    numpy.dtype
    numpy.dtypes.Float64DType, numpy.dtypes.Int64DType
                                          (not GLOBALs in the file: the unpickler's
                                           BUILD step checks ``type(np.dtype('f8'))``)

Everything else in an MMEngine checkpoint is already allowed by torch: tensors,
``collections.OrderedDict`` (state dicts, ``message_hub``), dicts / lists / tuples /
str / int / float / bool / None (``meta``, ``optimizer``, ``param_schedulers``; the
config is stored as ``meta['cfg']``, a string, so ``Config`` / ``ConfigDict`` are *not*
needed and not allowed).

Why each entry is safe:

* ``HistoryBuffer``: a plain data container (``max_length``, two arrays). Unpickling
  only calls ``HistoryBuffer.__new__`` and its ``__setstate__``, which assigns
  attributes and merges the ``statistics_methods`` dict into the class-level table.
  The values of that dict can only be objects this unpickler can build, i.e. other
  allow-listed globals, so at worst a crafted file makes later log statistics raise.
* ``builtins.getattr``: **not** the real ``getattr`` (a generic attribute walk would
  reach ``__globals__``, ``__self__``, modules...). The name is mapped to
  :func:`_history_buffer_getattr`, which only returns ``HistoryBuffer.min/max/
  current/mean`` and raises ``UnpicklingError`` for anything else. It applies to every
  ``weights_only`` load in the process, where it can only *narrow* what
  ``builtins.getattr`` does (torch refuses it by default anyway).
* ``_reconstruct(ndarray, (0,), b'b')`` creates an empty array that the BUILD step
  fills with ``ndarray.__setstate__`` from raw bytes (or, for object arrays, from a
  list the restricted unpickler has already built). No callable from the file runs.
* ``scalar(dtype, raw_bytes)`` makes a NumPy scalar from its bytes.
* ``numpy.dtype(spec, align, copy)`` parses a dtype string; the two concrete dtype
  classes only receive their byte order / flags in ``__setstate__``. Only the two
  numeric dtypes MMEngine writes are allowed (not object / void / string dtypes).

``weights_only`` stays on: nothing here sets ``weights_only=False`` or
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. A pickle that references any other global
(``os.system``, ``subprocess.*``, ``builtins.eval``, a function of a plugin...) is still
refused with ``pickle.UnpicklingError``. If a model of ours ever needs more (e.g. a
metric returning float32 scalars into ``runtime_info``), add the single global here
with its reason; do not widen to "all of numpy".

Checkpoints written by our runtime need none of these globals: the
``CheckpointConfigGuardHook`` stores the message hub as tensors and Python numbers
(:func:`plain_message_hub`) and turns it back on load (:func:`restore_message_hub`), so a
plain ``torch.load(path)`` reads them in a process that never imported desa2va_mm or
MMEngine. The allow-list stays for checkpoints written without that hook (other
runtimes, MMEngine's own tools, older files).

Note: ``torch.serialization.safe_globals([...])`` used as a context manager *removes*
its globals on exit, including ones registered here; call
:func:`register_checkpoint_safe_globals` again after such a block (it is idempotent).
"""
import collections
import contextlib
import functools
import logging
import pickle
import weakref
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

__all__ = ['register_checkpoint_safe_globals', 'checkpoint_safe_globals',
           'plain_message_hub', 'restore_message_hub', 'PLAIN_TYPE_KEY',
           'mark_checkpoint_guard', 'warn_if_unguarded', 'CHECKPOINT_GUARDS',
           'forced_weights_only_loads']

#: Statistics methods ``HistoryBuffer._set_default_statistics`` registers; these are
#: the only attributes the restricted ``getattr`` hands out.
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` inside ``weights_only`` unpickling.

    Returns the unbound statistics methods of :class:`HistoryBuffer` (what
    ``HistoryBuffer.__getstate__`` pickles as ``getattr(HistoryBuffer, 'min')``) and
    refuses every other ``getattr`` a checkpoint asks for.
    """
    if obj is HistoryBuffer and isinstance(name, str) \
            and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) in a weights_only checkpoint load: '
        'desa2va_mm only allows getattr(HistoryBuffer, '
        f'{"|".join(_HISTORY_BUFFER_METHODS)}).')


def _numpy_multiarray():
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    return multiarray


def checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """The entries :func:`register_checkpoint_safe_globals` passes to
    ``torch.serialization.add_safe_globals`` (see the module docstring)."""
    multiarray = _numpy_multiarray()
    reconstruct, scalar = multiarray._reconstruct, multiarray.scalar
    entries: List[Union[Callable, Tuple[Callable, str]]] = [
        # MMEngine message hub
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (_history_buffer_getattr, 'builtins.getattr'),
        # NumPy arrays and scalars, under their numpy >= 2 and numpy 1.x names
        (reconstruct, 'numpy._core.multiarray._reconstruct'),
        (reconstruct, 'numpy.core.multiarray._reconstruct'),
        (scalar, 'numpy._core.multiarray.scalar'),
        (scalar, 'numpy.core.multiarray.scalar'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
    ]
    # The concrete dtype classes (numpy >= 1.25 has numpy.dtypes); BUILD on a dtype
    # instance checks its exact type.
    for code in ('f8', 'i8'):
        dtype_cls = type(np.dtype(code))
        entries.append(
            (dtype_cls, f'{dtype_cls.__module__}.{dtype_cls.__qualname__}'))
    return entries


def register_checkpoint_safe_globals() -> None:
    """Allow-list the globals of MMEngine checkpoints for ``weights_only`` loads.

    Idempotent (``add_safe_globals`` keeps a set); safe to call again, e.g. after a
    ``torch.serialization.safe_globals`` block removed some of them. A no-op on torch
    versions without ``add_safe_globals`` (< 2.4), which load without restriction.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals(checkpoint_safe_globals())


@contextlib.contextmanager
def forced_weights_only_loads() -> Iterator[None]:
    """Within the block, every ``torch.load`` runs with ``weights_only=True``.

    For libraries that load checkpoints themselves with ``weights_only=False`` (DeepSpeed's
    checkpoint engine and ``zero_to_fp32``): their files then go through the same
    restricted unpickler as ours, so a checkpoint folder cannot run code either. Globals
    the library's files legitimately hold are allow-listed by the caller beforehand.
    """
    original = torch.load

    @functools.wraps(original)
    def load(*args, **kwargs):
        kwargs['weights_only'] = True
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


#: Key of the small dicts :func:`plain_message_hub` writes in place of objects that are
#: not plain data (its value names the type to rebuild).
PLAIN_TYPE_KEY = '__desa2va_plain_type__'


def _array_to_plain(array: np.ndarray):
    """A NumPy array as a tensor of the same dtype and shape; None if torch lacks the
    dtype (object / string arrays), in which case the array stays as it is."""
    try:
        return torch.from_numpy(np.ascontiguousarray(array)).clone()
    except TypeError:
        return None


def _to_plain(value):
    if isinstance(value, HistoryBuffer):
        log_history = _array_to_plain(value._log_history)
        count_history = _array_to_plain(value._count_history)
        if log_history is None or count_history is None:
            return value
        return {PLAIN_TYPE_KEY: 'HistoryBuffer', 'max_length': int(value.max_length),
                'log_history': log_history, 'count_history': count_history}
    if isinstance(value, np.ndarray):
        tensor = _array_to_plain(value)
        return value if tensor is None else {PLAIN_TYPE_KEY: 'ndarray', 'data': tensor}
    if isinstance(value, np.generic):
        item = value.item()
        # The equal Python number (np.float64 is itself a float subclass); complex or
        # datetime scalars stay NumPy objects (covered by the allow-list or refused).
        return item if isinstance(item, (bool, int, float)) else value
    if type(value) in (dict, collections.OrderedDict):
        return type(value)((k, _to_plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(_to_plain(v) for v in value)
    return value


def _from_plain(value):
    if type(value) in (dict, collections.OrderedDict):
        kind = value.get(PLAIN_TYPE_KEY)
        if kind == 'HistoryBuffer':
            return HistoryBuffer(value['log_history'].numpy(), value['count_history'].numpy(),
                                 value['max_length'])
        if kind == 'ndarray':
            return value['data'].numpy()
        return type(value)((k, _from_plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(_from_plain(v) for v in value)
    return value


def plain_message_hub(state: dict) -> dict:
    """The message hub's ``state_dict()`` in types torch's default unpickler accepts.

    ``HistoryBuffer`` objects (``log_scalars``) become ``{PLAIN_TYPE_KEY:
    'HistoryBuffer', 'max_length', 'log_history', 'count_history'}`` with the two
    histories as float64 / int64 tensors, NumPy arrays become tensors of their dtype and
    NumPy scalars (``best_score``, ``val/*`` metrics in ``runtime_info``) the equal Python
    numbers. :func:`restore_message_hub` reverses it; values are preserved bit for bit.

    Args:
        state: ``MessageHub.state_dict()`` (``log_scalars``, ``runtime_info``,
            ``resumed_keys``); not modified.

    Returns:
        dict: The same structure in plain types.
    """
    return _to_plain(state)


def restore_message_hub(state: dict) -> dict:
    """Undo :func:`plain_message_hub` (entries already in MMEngine's types stay as they are,
    so checkpoints written without it load unchanged).

    Args:
        state: A checkpoint's ``message_hub`` entry; not modified.

    Returns:
        dict: What ``MessageHub.load_state_dict`` takes (``HistoryBuffer`` objects and
        NumPy arrays back).
    """
    return _from_plain(state)


#: What each guard of ``configs/_base_/default_runtime.py`` gives a training run; a run
#: without one of them gets a warning from the model (:func:`warn_if_unguarded`).
CHECKPOINT_GUARDS = {
    'CheckpointConfigGuardHook': (
        "--resume executes a checkpoint's meta['config'] text as Python, and checkpoints "
        'hold MMEngine HistoryBuffer objects (a plain torch.load fails without '
        '`import desa2va_mm`)'),
    'ExactResumeHook': (
        '--resume does not restore the random-number state (the continued run differs '
        'from an uninterrupted one)'),
    'TrainableCheckpointHook': (
        'every checkpoint holds the frozen pretrained weights as well (GBs each)'),
}

# Models trained by a runner, with the guards that runner runs (set by the guards in
# ``before_run``), and the models that already warned. Weak: a model's entry goes with it.
_guarded: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()
_warned: 'weakref.WeakSet' = weakref.WeakSet()


def mark_checkpoint_guard(model: torch.nn.Module, guard: str) -> None:
    """Record that the runner training ``model`` runs ``guard`` (a key of
    :data:`CHECKPOINT_GUARDS`).

    Called by the guards (``CheckpointConfigGuardHook`` ... and
    ``TrainableDeepSpeedStrategy``, which takes ``TrainableCheckpointHook``'s role) with the
    runner's model; every ``BaseModel`` inside a wrapper (DDP, FSDP, DeepSpeed) is marked.

    Args:
        model: ``runner.model``, wrapped or not.
        guard: Name of the guard.
    """
    from mmengine.model import BaseModel
    for module in model.modules():
        if isinstance(module, BaseModel):
            _guarded.setdefault(module, set()).add(guard)


def warn_if_unguarded(model: torch.nn.Module,
                      required: Optional[Sequence[str]] = None) -> None:
    """Warn once per model when the runner training it lacks one of the ``required`` guards.

    A model cannot add hooks to the runner that trains it; what it can do is say so, at its
    first training step, with what is lost and the config lines that restore it. Under our
    runtime (``configs/_base_/default_runtime.py``) nothing is printed and nothing changes.

    Args:
        model: The model computing its first losses.
        required: Keys of :data:`CHECKPOINT_GUARDS` this model's training needs. None:
            ``CheckpointConfigGuardHook`` and ``ExactResumeHook``, plus
            ``TrainableCheckpointHook`` when the model names a pretrained file for one of
            its frozen parts (``pretrained_sources()``: the real-size configs).
    """
    if model in _warned:
        return
    _warned.add(model)
    if required is None:
        from .pretrained_sources import sourced_prefixes
        required = ['CheckpointConfigGuardHook', 'ExactResumeHook']
        get_sources = getattr(model, 'pretrained_sources', None)
        if callable(get_sources) and sourced_prefixes(model, tuple(get_sources())):
            required.append('TrainableCheckpointHook')
    missing = [g for g in required if g not in _guarded.get(model, ())]
    if not missing:
        return
    from mmengine.logging import print_log
    lost = '; '.join(f'without {g}, {CHECKPOINT_GUARDS[g]}' for g in missing)
    hooks = ', '.join(f"dict(type='desa2va_mm.{g}')" for g in missing)
    print_log(
        f'{type(model).__name__} is training in a runner without {", ".join(missing)}: '
        f'{lost}. Add custom_hooks=[{hooks}] to the config, or inherit '
        "desa2va_mm's configs/_base_/default_runtime.py (docs/tools.md, 'Stock OpenMMLab "
        "tools').", logger='current', level=logging.WARNING)
