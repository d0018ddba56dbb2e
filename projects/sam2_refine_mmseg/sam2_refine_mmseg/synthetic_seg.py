"""A small semantic-segmentation set in mmseg's layout, drawn from desa2va's synthetic shapes.

Layout (what mmseg's ``BaseSegDataset`` reads with ``img_suffix='.png'`` and
``seg_map_suffix='.png'``)::

    out_dir/img_dir/{train,val}/000000.png   # BGR shapes on a textured background
    out_dir/ann_dir/{train,val}/000000.png   # uint8 class index per pixel

Classes are the shapes' kinds (``desa2va_mm.synthetic.SHAPES``) after ``background``;
every visible pixel of a shape gets its class (occlusion already applied by the
generator). Images are :func:`desa2va_mm.synthetic.generate_image`'s, so a set is a pure
function of ``seed``: the train split uses image indices ``[0, num_train)``, the val split
``[num_train, num_train + num_val)``.
"""
import os
import os.path as osp
from typing import Callable, Dict, Optional

import cv2
import numpy as np

from desa2va_mm.synthetic import SHAPES, generate_image

#: mmseg ``metainfo``: class names (index = pixel value of the annotation) and colours.
CLASSES = ('background', ) + tuple(SHAPES)
PALETTE = [[0, 0, 0], [220, 20, 60], [0, 128, 255], [60, 180, 75], [255, 200, 0],
           [145, 30, 180]]
METAINFO = dict(classes=CLASSES, palette=PALETTE)


def semantic_map(sample) -> np.ndarray:
    """(S, S) uint8 class index of every pixel of a ``SyntheticImage`` (0: background)."""
    seg = np.zeros(sample.visible_masks.shape[1:], np.uint8)
    for obj, mask in zip(sample.scene.objects, sample.visible_masks):
        seg[mask.astype(bool)] = CLASSES.index(obj.shape)
    return seg


def make_synthetic_seg(out_dir: str,
                       num_train: int = 200,
                       num_val: int = 50,
                       seed: int = 0,
                       image_size: int = 128,
                       progress: Optional[Callable[[str, int, int], None]] = None
                       ) -> Dict[str, int]:
    """Write the train and val splits (skips nothing: existing files are overwritten).

    Args:
        out_dir: Dataset root (``data_root`` of the configs).
        num_train: Images of the train split.
        num_val: Images of the val split.
        seed: Generator seed.
        image_size: Side of the square images in pixels.
        progress: Called as ``progress(split, done, total)`` after each image.

    Returns:
        Images written per split.

    Raises:
        ValueError: A split size below 1.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train} and {num_val}')
    counts = {}
    for split, start, num in (('train', 0, num_train), ('val', num_train, num_val)):
        img_dir, ann_dir = osp.join(out_dir, 'img_dir', split), osp.join(out_dir, 'ann_dir', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(num):
            sample = generate_image(seed, start + i, image_size)
            name = f'{start + i:06d}.png'
            cv2.imwrite(osp.join(img_dir, name), sample.image)
            cv2.imwrite(osp.join(ann_dir, name), semantic_map(sample))
            if progress is not None:
                progress(split, i + 1, num)
        counts[split] = num
    return counts
