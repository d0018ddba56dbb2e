"""Read the video prediction contract (COCO RLEs per frame) and write submission PNGs.

One video prediction (a ``DetDataSample`` or, inside a metric, its ``to_dict()``) carries
in its metainfo ``video_id``, ``exp_ids``, ``frame_names``, ``ori_shape`` (H, W),
``pred_rles`` (E lists of T RLE dicts ``{'size': [H, W], 'counts': ...}``), optionally
``gt_rles`` (same layout, ``None`` = empty frame), ``type_ids`` and ``expressions``. Every
mask is decoded one frame at a time, so memory stays at a few frames whatever the video
length.
"""
import os
import os.path as osp
import tempfile
import zipfile
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from desa2va_mm.structures import decode_rle, rle_area as coco_rle_area, to_coco_rle

__all__ = ['get_meta', 'iter_expressions', 'iter_frame_pairs', 'decode_frame', 'rle_area',
           'write_submission_pngs', 'zip_folder']

_MISSING = object()


def get_meta(sample: Any, key: str, default: Any = _MISSING) -> Any:
    """``sample[key]`` for a dict or a data sample; a missing key names the video."""
    if isinstance(sample, dict):
        value = sample.get(key, _MISSING)
    else:
        value = sample.metainfo.get(key, _MISSING) if hasattr(sample, 'metainfo') else _MISSING
        if value is _MISSING:
            value = getattr(sample, key, _MISSING)
    if value is _MISSING:
        if default is not _MISSING:
            return default
        video = get_meta(sample, 'video_id', '<unknown video>') if key != 'video_id' \
            else '<unknown video>'
        raise KeyError(f'video {video!r}: the prediction has no {key!r} (see the video '
                       'prediction contract in docs/dataset_prepare.md, Metrics)')
    return value


def _where(video_id: str, exp_id: Any, frame: Any) -> str:
    return f'video {video_id!r}, expression {exp_id!r}, frame {frame!r}'


def _check_rle(rle: Any, shape: Tuple[int, int], where: str) -> Optional[dict]:
    """Validate one RLE (or ``None`` = empty) and return it in pycocotools' form."""
    if rle is None:
        return None
    if not isinstance(rle, dict) or 'size' not in rle or 'counts' not in rle:
        raise ValueError(f'{where}: expected a COCO RLE dict with "size" and "counts", got '
                         f'{type(rle).__name__}')
    size = [int(s) for s in rle['size']]
    if size != [int(shape[0]), int(shape[1])]:
        raise ValueError(f'{where}: RLE of size {size} but the video is '
                         f'{int(shape[0])}x{int(shape[1])} (ori_shape)')
    return to_coco_rle(rle)


def decode_frame(rle: Any, shape: Tuple[int, int], where: str = 'mask') -> np.ndarray:
    """Decode one frame's RLE to a C-contiguous uint8 ``(W, H)`` array (0 / 1).

    pycocotools decodes column-major, so the transposed view is contiguous for free. J
    and F are unchanged by transposing both masks (the DAVIS boundary map of ``m.T`` is
    the transposed map; the disk and the diagonal are symmetric), so metrics score the
    transposed masks directly. ``None`` decodes to an empty mask.
    """
    checked = _check_rle(rle, shape, where)
    if checked is None:
        return np.zeros((int(shape[1]), int(shape[0])), np.uint8)
    return decode_rle(checked).T


def rle_area(rle: Any, shape: Tuple[int, int], where: str = 'mask') -> int:
    """Foreground pixels of an RLE, a list of RLEs (summed, as ``decode(...).sum()``
    counts overlaps) or ``None`` (0), without decoding."""
    if isinstance(rle, (list, tuple)):
        return int(sum(rle_area(r, shape, where) for r in rle))
    checked = _check_rle(rle, shape, where)
    return 0 if checked is None else coco_rle_area(checked)


def iter_expressions(sample: Any, need_gt: bool = True) -> Iterator[dict]:
    """Validated per-expression views of one video prediction.

    Yields:
        dict(video_id, exp_id, type_id, expression, pred_rles (T,), gt_rles (T,) or None,
        frame_names (T,), shape (H, W)).
    """
    video_id = get_meta(sample, 'video_id')
    exp_ids = list(get_meta(sample, 'exp_ids'))
    frame_names = list(get_meta(sample, 'frame_names'))
    shape = tuple(int(s) for s in get_meta(sample, 'ori_shape')[:2])
    pred_rles = get_meta(sample, 'pred_rles')
    gt_rles = get_meta(sample, 'gt_rles') if need_gt else get_meta(sample, 'gt_rles', None)
    type_ids = get_meta(sample, 'type_ids', None)
    expressions = get_meta(sample, 'expressions', None)
    num_frames = len(frame_names)
    checks = [('pred_rles', pred_rles)] + ([('gt_rles', gt_rles)] if gt_rles is not None else [])
    for key, per_exp in checks:
        if len(per_exp) != len(exp_ids):
            raise ValueError(f'video {video_id!r}: {key} has {len(per_exp)} expressions but '
                             f'exp_ids has {len(exp_ids)}')
        for exp_id, frames in zip(exp_ids, per_exp):
            if len(frames) != num_frames:
                raise ValueError(f'video {video_id!r}, expression {exp_id!r}: {key} has '
                                 f'{len(frames)} frames but frame_names has {num_frames}')
    for e, exp_id in enumerate(exp_ids):
        yield dict(video_id=video_id, exp_id=exp_id,
                   type_id=None if type_ids is None else type_ids[e],
                   expression=None if expressions is None else expressions[e],
                   pred_rles=pred_rles[e], gt_rles=None if gt_rles is None else gt_rles[e],
                   frame_names=frame_names, shape=shape)


def iter_frame_pairs(exp: dict) -> Iterator[Tuple[int, np.ndarray, Optional[np.ndarray]]]:
    """(t, pred (W, H), gt (W, H) or None) for every frame of one expression."""
    for t, name in enumerate(exp['frame_names']):
        where = _where(exp['video_id'], exp['exp_id'], name)
        pred = decode_frame(exp['pred_rles'][t], exp['shape'], where + ' (prediction)')
        gt = None if exp['gt_rles'] is None else decode_frame(
            exp['gt_rles'][t], exp['shape'], where + ' (ground truth)')
        yield t, pred, gt


def _safe_join(root: str, parts: Sequence[str], where: str) -> str:
    path = osp.normpath(osp.join(root, *[str(p) for p in parts]))
    if osp.commonpath([osp.abspath(root), osp.abspath(path)]) != osp.abspath(root):
        raise ValueError(f'{where}: {"/".join(map(str, parts))!r} leaves the output folder')
    return path


def _write_png_atomic(path: str, mask01: np.ndarray) -> None:
    ok, buf = cv2.imencode('.png', (mask01 * 255).astype(np.uint8))
    if not ok:
        raise RuntimeError(f'could not encode {path}')
    folder = osp.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_submission_pngs(out_dir: str, sample: Any) -> List[str]:
    """Write ``<out_dir>/Annotations/<video>/<exp_id>/<frame>.png`` (0 / 255) for every
    expression and frame of one video prediction; returns the written paths.

    Each PNG goes to a temporary name in its folder and is renamed into place, so a
    crashed run never leaves a truncated PNG the server would reject.
    """
    root = osp.join(out_dir, 'Annotations')
    written = []
    for exp in iter_expressions(sample, need_gt=False):
        for t, name in enumerate(exp['frame_names']):
            where = _where(exp['video_id'], exp['exp_id'], name)
            rle = _check_rle(exp['pred_rles'][t], exp['shape'], where + ' (prediction)')
            mask = np.zeros(exp['shape'], np.uint8) if rle is None else decode_rle(rle)
            path = _safe_join(root, [*str(exp['video_id']).split('/'), exp['exp_id'],
                                     f'{name}.png'], where)
            _write_png_atomic(path, np.ascontiguousarray(mask))
            written.append(path)
    return written


def zip_folder(folder: str, zip_path: str, arc_root: Optional[str] = None) -> str:
    """Zip ``folder`` (entries under ``arc_root``, default its base name) atomically."""
    arc_root = osp.basename(osp.normpath(folder)) if arc_root is None else arc_root
    out_folder = osp.dirname(osp.abspath(zip_path))
    os.makedirs(out_folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(zip_path)}.', suffix='.tmp',
                               dir=out_folder)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as zf:
            for dirpath, _, files in sorted(os.walk(folder)):
                for fname in sorted(files):
                    if fname.startswith('.') and fname.endswith('.tmp'):
                        continue  # another rank's PNG in flight
                    full = osp.join(dirpath, fname)
                    zf.write(full, osp.join(arc_root, osp.relpath(full, folder)))
        os.replace(tmp, zip_path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return zip_path
