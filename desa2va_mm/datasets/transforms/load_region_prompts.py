"""Decode a sample's region prompts (COCO polygons / RLE / boxes) into ``prompt_masks``."""
import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.structures import box_to_mask
from .load_referring_masks import decode_segmentation


@TRANSFORMS.register_module()
class LoadRegionPrompts(BaseTransform):
    """``region_segmentations`` (and / or ``region_boxes``) -> ``prompt_masks`` (R, H, W).

    Region prompts are what the user points at (docs/visual_prompts.md): each is a COCO
    segmentation (polygons or RLE, checked against the image size) or an ``(x1, y1, x2,
    y2)`` pixel box (its filled rectangle). Masks are built at ``ori_shape`` and cover the
    whole image; ``TokenizeConversation`` counts each region's tokens from them and the
    model reads their features, so the image may be resized freely after this step.

    Raises:
        ValueError: An empty region (no pixel inside; it could not be pointed at), or a
            malformed segmentation / box (the message names the sample and the region).
    """

    def transform(self, results: dict) -> dict:
        if 'ori_shape' in results:
            height, width = results['ori_shape'][:2]
        elif 'img' in results:
            height, width = results['img'].shape[:2]
        else:
            raise KeyError(f"{results.get('img_path', '<unknown sample>')}: LoadRegionPrompts "
                           'needs the image loaded first (no ori_shape)')
        name = results.get('img_path', '<unknown sample>')
        masks = []
        for r, segm in enumerate(results.get('region_segmentations') or []):
            masks.append(decode_segmentation(segm, height, width,
                                             f'{name} (region {len(masks) + 1})') != 0)
        for box in results.get('region_boxes') or []:
            try:
                masks.append(box_to_mask(box, (height, width)))
            except ValueError as err:
                raise ValueError(f'{name} (region {len(masks) + 1}): {err}') from None
        for r, mask in enumerate(masks):
            if not mask.any():
                raise ValueError(f'{name}: region {r + 1} is empty (no pixel inside it); '
                                 'fix or drop it')
        if masks:
            results['prompt_masks'] = np.stack(masks)
        return results
