"""Decode each referring target's mask (COCO polygons / RLE, unions, LabelMe shapes)."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.mask import BitmapMasks

from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.structures import decode_rle, rle_from_polygons

#: Value LabelMe ``ignore`` regions take in LISA's ReasonSeg ground truth.
IGNORE_VALUE = 255


def _sample_name(results: dict) -> str:
    return str(results.get('img_path', results.get('video_path', '<unknown sample>')))


def decode_segmentation(segm, height: int, width: int, where: str) -> np.ndarray:
    """One COCO segmentation -> (H, W) uint8 mask.

    Args:
        segm: Polygon list ``[[x0, y0, x1, y1, ...], ...]``, RLE dict ``{'size': [H, W],
            'counts': str | bytes | list}``, a list of such items (their union), or None /
            ``[]`` (an empty mask: gRefCOCO's no-target expressions).
        height: Image height the mask must have.
        width: Image width.
        where: Sample description used in error messages.

    Raises:
        ValueError: An RLE whose ``size`` is not ``[height, width]``, or an unknown type.
    """
    if segm is None or (isinstance(segm, (list, tuple)) and len(segm) == 0):
        return np.zeros((height, width), np.uint8)
    if isinstance(segm, dict):
        if 'counts' not in segm or 'size' not in segm:
            raise ValueError(f'{where}: an RLE needs "size" and "counts", got keys '
                             f'{sorted(segm)}')
        size = [int(s) for s in segm['size']]
        if size != [height, width]:
            # A mask of another image (or a transposed one) would be scored silently wrong.
            raise ValueError(f'{where}: RLE of size {size} on an image of size '
                             f'{[height, width]}')
        return decode_rle(segm).astype(np.uint8)
    if isinstance(segm, (list, tuple)):
        if all(isinstance(v, (int, float)) for v in segm):
            segm = [segm]  # one flat polygon
        if all(isinstance(p, (list, tuple)) and p and
               all(isinstance(v, (int, float)) for v in p) for p in segm):
            polys = [p for p in segm if len(p) >= 6]
            if len(polys) != len(segm):
                raise ValueError(f'{where}: a polygon needs at least 3 points')
            return decode_rle(rle_from_polygons(polys, height, width)).astype(np.uint8)
        # A list of whole segmentations: the union (gRefCOCO multi-object targets).
        out = np.zeros((height, width), np.uint8)
        for part in segm:
            out |= decode_segmentation(part, height, width, where)
        return out
    raise ValueError(f'{where}: unsupported mask type {type(segm).__name__}')


def rasterize_labelme(shapes: Sequence[dict], height: int, width: int,
                      where: str) -> Tuple[np.ndarray, np.ndarray]:
    """LabelMe polygons -> (target, ignore) masks, exactly as LISA's ``get_mask_from_json``.

    Shapes labelled ``flag`` are skipped; the rest are painted from the largest to the
    smallest filled area (so a small shape drawn inside a large one wins), each with
    ``cv2.polylines`` (1 px outline) + ``cv2.fillPoly``: value 255 for labels containing
    ``ignore``, 1 otherwise.

    Returns:
        ``(target, ignore)``: two (H, W) uint8 masks (1 where the label map is 1 / 255).
    """
    valid, areas = [], []
    for i, shape in enumerate(shapes):
        label = str(shape.get('label', ''))
        if label.lower() == 'flag':
            continue
        points = shape.get('points')
        if not points or len(points) < 3:
            raise ValueError(f'{where}: shape {i} ({label!r}) has fewer than 3 points')
        poly = np.array([points], dtype=np.int32)
        tmp = np.zeros((height, width), np.uint8)
        cv2.polylines(tmp, poly, True, 1, 1)
        cv2.fillPoly(tmp, poly, 1)
        areas.append(int(tmp.sum()))
        valid.append((label, poly))
    label_map = np.zeros((height, width), np.uint8)
    for j in np.argsort(areas)[::-1]:
        label, poly = valid[j]
        value = IGNORE_VALUE if 'ignore' in label.lower() else 1
        cv2.polylines(label_map, poly, True, value, 1)
        cv2.fillPoly(label_map, poly, value)
    return (label_map == 1).astype(np.uint8), (label_map == IGNORE_VALUE).astype(np.uint8)


@TRANSFORMS.register_module()
class LoadReferringMasks(BaseTransform):
    """Decode ``results['instances'][i]['mask']`` into ``gt_masks`` (N, H, W).

    Unlike mmdet's ``LoadAnnotations`` it accepts every mask form the referring datasets
    ship and checks it against the image: COCO polygons, compressed / uncompressed RLE
    (its ``size`` must equal the image's, else ``ValueError`` naming the sample), a list of
    segmentations (their union: gRefCOCO's multi-object targets), None / ``[]`` (an empty
    mask: gRefCOCO's no-target expressions), or ``dict(labelme_shapes=[...])`` (ReasonSeg;
    ``ignore`` regions are not target and go to ``gt_ignore_masks`` when
    ``with_ignore=True``).

    Masks are built at ``ori_shape``, like ``LoadAnnotations``: put this transform before
    ``Resize`` in training (masks follow the SAM-2 image) and after it at test (the metric
    scores at the original resolution). A sample with no instance (question answering)
    gets a (0, H, W) ``gt_masks`` so it batches with referring samples.

    Args:
        with_ignore: Also write ``gt_ignore_masks`` (N, H, W) (ReasonSeg evaluation).
    """

    def __init__(self, with_ignore: bool = False) -> None:
        self.with_ignore = with_ignore

    def transform(self, results: dict) -> dict:
        if 'ori_shape' in results:
            height, width = results['ori_shape'][:2]
        elif 'img' in results:
            height, width = results['img'].shape[:2]
        else:
            raise KeyError(f'{_sample_name(results)}: LoadReferringMasks needs the image '
                           f'loaded first (no ori_shape)')
        name = _sample_name(results)
        masks: List[np.ndarray] = []
        ignores: List[np.ndarray] = []
        for i, inst in enumerate(results.get('instances') or []):
            where = f'{name} (target {i})'
            segm = inst.get('mask')
            ignore: Optional[np.ndarray] = None
            if isinstance(segm, dict) and 'labelme_shapes' in segm:
                mask, ignore = rasterize_labelme(segm['labelme_shapes'], height, width, where)
            else:
                mask = decode_segmentation(segm, height, width, where)
            masks.append(mask)
            ignores.append(ignore if ignore is not None else np.zeros_like(mask))
        stack = (lambda ms: np.stack(ms) if ms else np.zeros((0, height, width), np.uint8))
        results['gt_masks'] = BitmapMasks(stack(masks), height, width)
        if self.with_ignore:
            results['gt_ignore_masks'] = BitmapMasks(stack(ignores), height, width)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(with_ignore={self.with_ignore})'
