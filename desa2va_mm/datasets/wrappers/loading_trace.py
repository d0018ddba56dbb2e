"""Name the sample a data-loader worker was loading when it died or hung.

A worker killed by the kernel's out-of-memory killer (``SIGKILL``) or by a crash in a
decoder leaves the main process with PyTorch's ``DataLoader worker (pid(s) 4242) exited
unexpectedly`` and nothing else. :class:`LoadingTrace` records, in memory shared with the
forked workers, which dataset index each worker is loading; after a failure
:func:`explain_dataloader_failure` turns PyTorch's error into one that says what killed the
worker, which sample it was loading (file, member of the data mix) and what to do.
"""
import bisect
import gc
import mmap
import multiprocessing
import os
import re
import signal
import struct
import time
import weakref
from typing import Iterator, List, Optional, Tuple

from torch.utils.data import get_worker_info

__all__ = ['LoadingTrace', 'DataLoaderWorkerError', 'explain_dataloader_failure',
           'describe_sample']

# Every LoadingTrace of this process, for explain_dataloader_failure.
_TRACES: 'weakref.WeakSet[LoadingTrace]' = weakref.WeakSet()


class DataLoaderWorkerError(RuntimeError):
    """A data-loader worker died or stopped answering; the message says which sample it
    was loading when that is known, and what to do."""


def _member_steps(dataset, index: int) -> Iterator[Tuple[object, int, str]]:
    """Walk ``(dataset, index)`` down through dataset wrappers; yields each level as
    ``(dataset, index, how it was reached)``, ending at the dataset holding the sample."""
    how = ''
    while True:
        yield dataset, index, how
        how = ''
        if hasattr(dataset, 'cumulative_sizes') and hasattr(dataset, 'datasets'):
            member = bisect.bisect_right(dataset.cumulative_sizes, index)
            start = dataset.cumulative_sizes[member - 1] if member else 0
            how = f'member {member} of the {type(dataset).__name__}'
            dataset, index = dataset.datasets[member], index - start
        elif hasattr(dataset, 'repeat_indices') and hasattr(dataset, 'dataset'):
            dataset, index = dataset.dataset, dataset.repeat_indices[index]  # class-balanced
        elif hasattr(dataset, 'times') and hasattr(dataset, 'dataset'):
            dataset, index = dataset.dataset, index % len(dataset.dataset)  # RepeatDataset
        elif hasattr(dataset, 'dataset') and hasattr(dataset, 'max_bad_samples'):
            dataset = dataset.dataset  # SkipBadSamples
        else:
            return


def describe_sample(dataset, index: int) -> str:
    """``'sample 12 (img_path=data/x/train2014/a.jpg)'``: the index and what identifies it.

    Inside a data mix (``ConcatDataset`` of ``RepeatDataset`` s...) the member dataset is
    named too: ``'sample 812 (img_path=.../a.jpg; RefCocoReferringDataset
    data/coco/refcocog/instances.json, its sample 12, member 2 of the ConcatDataset)'``.
    """
    name = None
    try:
        info = dataset.get_data_info(index)
        for key in ('img_path', 'video_path', 'video_id', 'frame_dir', 'img_id'):
            if info.get(key) is not None:
                name = f'{key}={info[key]}'
                break
    except Exception:  # noqa: BLE001 - naming must never hide the real error
        pass
    member = None
    try:
        steps = list(_member_steps(dataset, index))
        leaf, leaf_index, _ = steps[-1]
        hows = [how for _, _, how in steps if how]
        if hows:
            source = getattr(leaf, 'ann_file', None) or getattr(leaf, 'data_root', None)
            member = (f'{type(leaf).__name__}{" " + str(source) if source else ""}, '
                      f'its sample {leaf_index}, {", ".join(reversed(hows))}')
    except Exception:  # noqa: BLE001
        pass
    details = '; '.join(part for part in (name, member) if part)
    return f'sample {index}' + (f' ({details})' if details else '')


class LoadingTrace:
    """Which dataset index each data-loader process is loading, in shared memory.

    Created in the main process (by :class:`SkipBadSamples`); forked workers inherit the
    anonymous shared mapping and write to their own slot (worker id + 1; slot 0 is the
    main process) before and after each sample: two 32-byte writes, no lock, no file. The
    main process reads the slots only after a worker died or timed out. Workers started
    with ``spawn`` / ``forkserver`` get a copy of the dataset without the mapping and
    record nothing.

    Args:
        dataset: The dataset whose indices are traced (named in messages).
        num_slots: Data-loader processes that can be traced (workers beyond are not).
    """

    _SLOT = struct.Struct('qqdq')  # pid, index, start time, loading (1) / done (0)

    def __init__(self, dataset, num_slots: int = 257) -> None:
        self._dataset_ref = weakref.ref(dataset)
        self.num_slots = num_slots
        self._buffer: Optional[mmap.mmap] = mmap.mmap(-1, num_slots * self._SLOT.size)
        _TRACES.add(self)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_buffer'] = None  # a pickled copy (spawned worker) shares nothing
        state['_dataset_ref'] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @staticmethod
    def _slot() -> int:
        info = get_worker_info()
        return 0 if info is None else info.id + 1

    def start(self, index: int) -> None:
        """This process begins loading ``index``."""
        slot = self._slot()
        if self._buffer is not None and slot < self.num_slots:
            self._SLOT.pack_into(self._buffer, slot * self._SLOT.size,
                                 os.getpid(), index, time.time(), 1)

    def done(self) -> None:
        """This process finished (or gave up on) its sample."""
        slot = self._slot()
        if self._buffer is not None and slot < self.num_slots:
            pid, index, started, _ = self._SLOT.unpack_from(self._buffer,
                                                            slot * self._SLOT.size)
            self._SLOT.pack_into(self._buffer, slot * self._SLOT.size, pid, index,
                                 started, 0)

    def loading(self) -> List[Tuple[int, int, float]]:
        """``(pid, index, seconds since it started)`` of every process mid-sample."""
        if self._buffer is None:
            return []
        now = time.time()
        out = []
        for slot in range(self.num_slots):
            pid, index, started, busy = self._SLOT.unpack_from(self._buffer,
                                                               slot * self._SLOT.size)
            if busy and pid:
                out.append((pid, index, now - started))
        return out

    def describe(self, index: int) -> str:
        dataset = self._dataset_ref() if self._dataset_ref is not None else None
        return f'sample {index}' if dataset is None else describe_sample(dataset, index)


def _exit_status(pid: int) -> Optional[int]:
    """The worker's ``multiprocessing`` exit code (negative: killed by that signal).

    PyTorch keeps its worker ``Process`` objects on the iterator, which the error does not
    carry; this runs only after a failure, so a scan of the live objects is affordable.
    """
    for obj in gc.get_objects():
        if isinstance(obj, multiprocessing.process.BaseProcess) and obj.pid == pid:
            try:
                return obj.exitcode
            except Exception:  # noqa: BLE001
                return None
    return None


def _why(code: Optional[int]) -> str:
    if code is None:
        return 'exited unexpectedly'
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f'signal {-code}'
        return f'was killed by {name}'
    return f'exited with status {code}'


def _advice(code: Optional[int]) -> str:
    if code == -signal.SIGKILL:
        return ('SIGKILL that nobody sent by hand is almost always the kernel\'s '
                'out-of-memory killer (check `dmesg` or the job\'s memory accounting, e.g. '
                '`sacct -j JOBID -o MaxRSS`): lower train_dataloader.num_workers or '
                'batch_size, shorten videos / frames per sample, or give the job more memory')
    if code == -signal.SIGBUS:
        return ('SIGBUS in a data-loader worker usually means shared memory (/dev/shm) is '
                'full: enlarge it (docker --shm-size) or lower num_workers / batch_size')
    if code is not None and code < 0:
        return ('a crash in native code (an image / video decoder) or a signal from outside; '
                'load the named sample alone (dataset[i]) to reproduce it, and check the '
                'file')
    return ('run with train_dataloader.num_workers=0 to see the error in the main '
            'process, or check the worker\'s output above')


def _loading_by_pid() -> dict:
    found = {}
    for trace in list(_TRACES):
        for pid, index, seconds in trace.loading():
            found[pid] = (trace, index, seconds)
    return found


_DIED = r'DataLoader worker \(pid\(?s?\)? ([\d, ]+)\)'
_TIMED_OUT = r'DataLoader timed out after (\d+) seconds'


def _worker_failure_in_chain(error: BaseException) -> Optional[BaseException]:
    """``error`` or the exception it was raised from / while handling that is one of
    PyTorch's worker failures."""
    stack, seen = [error], set()
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if re.search(_DIED, str(current)) or re.search(_TIMED_OUT, str(current)):
            return current
        stack += [current.__context__, current.__cause__]
    return None


def explain_dataloader_failure(error: BaseException) -> Optional[DataLoaderWorkerError]:
    """A clearer error for PyTorch's data-loader worker failures, or None for others.

    Handles ``DataLoader worker (pid(s) ...) exited unexpectedly`` / ``... is killed by
    signal: ...`` (a worker died) and ``DataLoader timed out after N seconds`` (a worker
    stopped answering: the dataloader's ``timeout``), also when another error was raised
    while handling it (PyTorch raises the first from a SIGCHLD handler, wherever the main
    thread is: inside a config formatter it became a ``SyntaxError``). The new message
    keeps PyTorch's, adds the worker's exit signal and the sample it was loading (traced
    by :class:`SkipBadSamples`), and says what to do.
    """
    cause = _worker_failure_in_chain(error)
    if cause is None:
        return None
    text = str(cause)
    died = re.search(_DIED, text)
    timed_out = re.search(_TIMED_OUT, text)
    loading = _loading_by_pid()
    lines = [text.strip()]
    if cause is not error:
        # PyTorch's SIGCHLD handler raises wherever the main thread happens to be; code
        # there may have wrapped it in an error of its own.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ''
        lines.append(f'(it surfaced as {type(error).__name__}: {first_line[:200]})')
    if died is not None:
        for pid in (int(p) for p in died.group(1).replace(' ', '').split(',') if p):
            code = _exit_status(pid)
            what = f'DataLoader worker pid {pid} {_why(code)}'
            if pid in loading:
                trace, index, seconds = loading[pid]
                what += f' while loading {trace.describe(index)}'
            elif not _TRACES:
                what += (' (wrap the training dataset in SkipBadSamples to have the sample '
                         'it was loading named here)')
            lines.append(f'{what}. {_advice(code)}.')
    else:
        busy = [f'worker pid {pid} has been loading {trace.describe(index)} for '
                f'{seconds:.0f} s' for pid, (trace, index, seconds) in sorted(loading.items())]
        lines.append('No batch arrived within the dataloader timeout'
                     + (': ' + '; '.join(busy) if busy else '')
                     + '. A worker is stuck (a hung network file system, a decoder that '
                     'never returns) or loading is slower than train_dataloader.timeout '
                     f'({timed_out.group(1)} s) allows: check the named file, or raise the '
                     'timeout.')
    return DataLoaderWorkerError('\n'.join(lines))
