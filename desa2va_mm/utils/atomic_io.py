"""Write result files atomically: a temporary file in the same folder, then a rename.

An interrupted run (Ctrl-C, a killed job, a full disk) therefore never leaves a
half-written ``preds.pkl`` / metrics JSON / submission file that a later run or a metric
could mistake for a complete one: the target either keeps its previous content or does
not exist, and the partial data stays in a hidden ``.NAME.XXXX.tmp`` file that is removed
when the failure is a Python exception.
"""
import contextlib
import os
import os.path as osp
import tempfile
from typing import IO, Any, Iterator, Optional

__all__ = ['atomic_open', 'atomic_dump']


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'w', encoding: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the ``with`` block ends cleanly.

    Args:
        path: The final file. Its folder is created if needed.
        mode: ``'w'`` (text) or ``'wb'`` (binary).
        encoding: Text encoding (default UTF-8 for text mode).

    Yields:
        The open temporary file. The data is flushed and ``fsync``-ed before
        ``os.replace`` (atomic on POSIX and Windows within one file system).
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_open supports mode 'w' or 'wb', got {mode!r}")
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        if mode == 'w':
            f = os.fdopen(fd, 'w', encoding=encoding or 'utf-8')
        else:
            f = os.fdopen(fd, 'wb')
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_dump(obj: Any, path: str, file_format: Optional[str] = None, **kwargs) -> None:
    """``mmengine.dump(obj, path)`` through :func:`atomic_open` (pkl / json / yaml).

    Args:
        obj: What to write.
        path: The final file; its extension picks the format unless ``file_format``.
        file_format: ``'pkl'``, ``'json'`` or ``'yaml'``.
        **kwargs: Passed to the format's dump (``indent`` for JSON...).
    """
    import mmengine
    fmt = file_format or osp.splitext(path)[1].lstrip('.').lower()
    fmt = {'pickle': 'pkl', 'yml': 'yaml'}.get(fmt, fmt)
    if fmt not in ('pkl', 'json', 'yaml'):
        raise ValueError(f'atomic_dump: unsupported format {fmt!r} for {path}; use a '
                         '.pkl / .pickle / .json / .yaml file or pass file_format')
    with atomic_open(path, 'wb' if fmt == 'pkl' else 'w') as f:
        mmengine.dump(obj, file=f, file_format=fmt, **kwargs)
