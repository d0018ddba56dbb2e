"""Per-frame ground truth of a video sample: decoded masks (training) or RLEs (test)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.structures import rle as rle_utils


def _where(video_id, exp_id=None, frame=None, frame_name=None) -> str:
    text = f'video {video_id!r}'
    if exp_id is not None:
        text += f', expression {exp_id!r}'
    if frame is not None:
        text += f', frame {frame}' + (f' ({frame_name!r})' if frame_name is not None else '')
    return text


def check_rle(rle, height: int, width: int, where: str) -> dict:
    """Validate one COCO RLE and return it in compressed form.

    Accepts compressed (``counts`` str / bytes) and uncompressed (``counts`` list) RLEs.

    Raises:
        ValueError: Not an RLE dict, or its ``size`` is not ``[height, width]``.
    """
    if not isinstance(rle, dict) or 'size' not in rle or 'counts' not in rle:
        raise ValueError(f'{where}: expected a COCO RLE dict with "size" and "counts", got '
                         f'{type(rle).__name__}')
    size = [int(v) for v in rle['size']]
    if size != [height, width]:
        raise ValueError(f'{where}: RLE size {size[0]}x{size[1]} does not match the video '
                         f'size {height}x{width}')
    return rle_utils.to_coco_rle(rle)


def decode_rle(rle: dict, where: str) -> np.ndarray:
    """Decode one RLE to ``(H, W)`` uint8 {0, 1}; errors name ``where``."""
    try:
        mask = rle_utils.decode_rle(rle)
    except Exception as e:  # noqa: BLE001  (pycocotools raises bare errors on bad counts)
        raise ValueError(f'{where}: RLE does not decode ({e})') from e
    return mask.astype(np.uint8)


def read_index_png(path: str, where: str, shape: Optional[tuple] = None) -> np.ndarray:
    """Read a palette (or grayscale) annotation PNG as its index map ``(H, W)`` uint8.

    OpenCV would expand a palette PNG to colours, so Pillow reads it.

    Raises:
        FileNotFoundError: Missing file. ValueError: not an index image, or wrong size.
    """
    from PIL import Image
    try:
        with Image.open(path) as image:
            if image.mode not in ('P', 'L', '1'):
                raise ValueError(f'{where}: annotation {path} is a {image.mode} image; '
                                 'expected a palette or grayscale PNG of object ids')
            index = np.array(image, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f'{where}: annotation file {path} does not exist') from None
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ValueError(f'{where}: annotation {path} does not decode ({e})') from e
    if shape is not None and index.shape != tuple(shape):
        raise ValueError(f'{where}: annotation {path} is {index.shape[0]}x{index.shape[1]}, '
                         f'the video is {shape[0]}x{shape[1]}')
    return index


@TRANSFORMS.register_module()
class LoadVideoAnnotations(BaseTransform):
    """Ground truth of the chosen expressions (``expression_infos``).

    Training (``mode='train'``): ``gt_masks`` = ``(E, T, H, W)`` uint8 masks at the sampled
    ``frame_ids`` (union of an expression's objects; an RLE ``null`` is an empty frame).

    Test (``mode='test'``): ``gt_rles`` = E lists of one COCO RLE per frame of the whole
    video (``{'size': [H, W], 'counts': str}``, None for an empty frame), for the metric;
    RLE files are passed through (objects merged in RLE form, nothing decoded), PNG
    annotations are read once per frame and encoded. Splits without ground truth (online
    servers) get no ``gt_rles``. ReVOS's ``foreground_rles`` stay in the results.

    Both modes set ``ori_shape`` = ``(height, width)`` of the video.

    Args:
        mode: ``'train'`` or ``'test'``.
    """

    def __init__(self, mode: str = 'train') -> None:
        if mode not in ('train', 'test'):
            raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
        self.mode = mode

    # -------------------------------------------------------------- internals
    @staticmethod
    def _has_masks(results: dict) -> bool:
        return results.get('mask_rles') is not None or results.get('mask_paths') is not None

    def _frame_rles(self, results: dict, anno_ids: Sequence[str], frame: int,
                    exp_id: str) -> List[dict]:
        height, width = results['height'], results['width']
        rles = []
        for anno_id in anno_ids:
            rle = results['mask_rles'][anno_id][frame]
            if rle is None:
                continue
            where = _where(results['video_id'], exp_id, frame, results['frame_names'][frame])
            rles.append(check_rle(rle, height, width, f'{where}, anno_id {anno_id}'))
        return rles

    # -------------------------------------------------------------- transform
    def transform(self, results: dict) -> dict:
        video_id = results.get('video_id', '<unknown video>')
        infos = results.get('expression_infos')
        if infos is None:
            raise KeyError(f'video {video_id!r}: no "expression_infos"; put '
                           'SampleVideoExpressions before LoadVideoAnnotations')
        results['ori_shape'] = (results['height'], results['width'])
        if not self._has_masks(results):
            if self.mode == 'train':
                raise ValueError(f'video {video_id!r} has no ground-truth masks to train on')
            return results
        missing = [e['exp_id'] for e in infos if e.get('mask_source') is None]
        if missing:
            raise ValueError(f'video {video_id!r}: expression(s) {missing} have no mask')
        if self.mode == 'train':
            results['gt_masks'] = self._train_masks(results, infos)
        else:
            results['gt_rles'] = self._test_rles(results, infos)
        return results

    def _png(self, results: dict, frame: int, cache: Dict[int, np.ndarray]) -> np.ndarray:
        if frame not in cache:
            where = _where(results['video_id'], None, frame, results['frame_names'][frame])
            cache[frame] = read_index_png(results['mask_paths'][frame], where,
                                          (results['height'], results['width']))
        return cache[frame]

    def _train_masks(self, results: dict, infos: List[dict]) -> np.ndarray:
        frame_ids = [int(i) for i in results['frame_ids']]
        height, width = results['height'], results['width']
        masks = np.zeros((len(infos), len(frame_ids), height, width), dtype=np.uint8)
        png_cache: Dict[int, np.ndarray] = {}
        # MeViS expressions often share objects: decode each (object, frame) RLE once.
        rle_cache: Dict[tuple, np.ndarray] = {}
        for e, info in enumerate(infos):
            source = info['mask_source']
            for t, frame in enumerate(frame_ids):
                if 'obj_ids' in source:
                    index = self._png(results, frame, png_cache)
                    masks[e, t] = np.isin(index, source['obj_ids'])
                    continue
                where = _where(results['video_id'], info['exp_id'], frame,
                               results['frame_names'][frame])
                for anno_id in source['anno_ids']:
                    key = (anno_id, frame)
                    if key not in rle_cache:
                        rles = self._frame_rles(results, [anno_id], frame, info['exp_id'])
                        rle_cache[key] = decode_rle(rles[0], f'{where}, anno_id {anno_id}') \
                            if rles else None
                    if rle_cache[key] is not None:
                        masks[e, t] |= rle_cache[key]
        return masks

    def _test_rles(self, results: dict, infos: List[dict]) -> List[List[Optional[dict]]]:
        num_frames = len(results['frame_paths'])
        out: List[List[Optional[dict]]] = [[None] * num_frames for _ in infos]
        png_infos = [(e, i) for e, i in enumerate(infos) if 'obj_ids' in i['mask_source']]
        for e, info in enumerate(infos):
            if 'obj_ids' in info['mask_source']:
                continue
            for frame in range(num_frames):
                rles = self._frame_rles(results, info['mask_source']['anno_ids'], frame,
                                        info['exp_id'])
                if len(rles) == 1:
                    out[e][frame] = rle_utils.to_json_rle(rles[0])
                elif rles:
                    out[e][frame] = rle_utils.to_json_rle(rle_utils.merge_rles(rles))
        if png_infos:
            for frame in range(num_frames):
                index = self._png(results, frame, {})  # one PNG alive at a time
                for e, info in png_infos:
                    mask = np.isin(index, info['mask_source']['obj_ids'])
                    if mask.any():
                        out[e][frame] = rle_utils.encode_mask(mask)
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(mode={self.mode!r})'
