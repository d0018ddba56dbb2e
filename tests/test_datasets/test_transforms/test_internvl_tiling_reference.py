"""InternVLTiling against InternVL's own ``dynamic_preprocess`` (pixel for pixel).

The reference below restates InternVL's ``find_closest_aspect_ratio`` /
``dynamic_preprocess`` (OpenGVLab/InternVL, ``internvl_chat/internvl/train/dataset.py``,
also in every InternVL2.5 model card): the same candidate set and sort, ties kept unless
the image fills more than half of the larger grid, and ``Image.resize`` with Pillow's
default filter (bicubic for RGB).
"""
import numpy as np
import pytest
from PIL import Image

from desa2va_mm.datasets.transforms import InternVLTiling, dynamic_tiles


def _internvl_closest(aspect_ratio, target_ratios, width, height, image_size):
    best_ratio_diff = float('inf')
    best_ratio = (1, 1)
    area = width * height
    for ratio in target_ratios:
        ratio_diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff
            best_ratio = ratio
        elif ratio_diff == best_ratio_diff:
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio


def _internvl_dynamic_preprocess(image, min_num=1, max_num=12, image_size=448,
                                 use_thumbnail=True):
    w, h = image.size
    target_ratios = set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1)
                        for j in range(1, n + 1) if min_num <= i * j <= max_num)
    target_ratios = sorted(target_ratios, key=lambda x: x[0] * x[1])
    cols, rows = _internvl_closest(w / h, target_ratios, w, h, image_size)
    resized = image.resize((image_size * cols, image_size * rows))
    tiles = []
    for i in range(cols * rows):
        box = ((i % cols) * image_size, (i // cols) * image_size,
               (i % cols + 1) * image_size, (i // cols + 1) * image_size)
        tiles.append(resized.crop(box))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size)))
    return tiles, (cols, rows)


# (width, height) -> tiles, hand-computed with InternVL's rule (max 12, thumbnail on):
#  640x480 (COCO 4:3): grid 4x3 exactly -> 12 + thumbnail; 896x448: 2x1 (4x2 and 6x3
#  tie but 896*448 < 0.5*448^2*8) -> 3; 1792x896: 4x2 wins the tie (area 1605632 >
#  802816), 6x3 does not (1806336) -> 9; 448x448: 1x1, no thumbnail -> 1;
#  480x640: 3x4 -> 13; 1000x200 (ratio 5): 5x1 -> 6.
@pytest.mark.parametrize('size,tiles', [((640, 480), 13), ((896, 448), 3), ((1792, 896), 9),
                                        ((448, 448), 1), ((480, 640), 13), ((1000, 200), 6)])
def test_hand_computed_tile_counts(size, tiles):
    img = Image.new('RGB', size)
    assert len(dynamic_tiles(img, 1, 12, 448, True)) == tiles
    assert len(_internvl_dynamic_preprocess(img)[0]) == tiles


def test_pixel_identical_to_internvl_on_many_sizes():
    rng = np.random.default_rng(0)
    sizes = [(640, 480), (427, 640), (500, 333), (1024, 768), (300, 1200), (97, 61),
             (1344, 448), (2000, 2000), (900, 901)]
    for w, h in sizes:
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        ours = dynamic_tiles(img, 1, 12, 448, True)
        ref, grid = _internvl_dynamic_preprocess(img)
        assert len(ours) == len(ref), (w, h, grid)
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_transform_tile_count_and_token_budget():
    bgr = np.zeros((480, 640, 3), np.uint8)
    out = InternVLTiling()({'img': bgr})
    assert out['pixel_values'].shape == (13, 3, 448, 448) and out['num_tiles'] == 13


def test_normalisation_bit_identical_to_float_arithmetic():
    """The lookup-table normalisation equals (x / 255 - mean) / std in float32 exactly, in
    (T, 3, s, s) layout with channels in RGB order."""
    import torch

    from desa2va_mm.datasets.transforms.internvl_tiling import (IMAGENET_MEAN, IMAGENET_STD,
                                                                normalize_tiles)
    rng = np.random.default_rng(1)
    tiles = [Image.fromarray(rng.integers(0, 256, (448, 448, 3), dtype=np.uint8))
             for _ in range(2)]
    tiles[1].putpixel((0, 0), (0, 128, 255))
    mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 1, 3)
    std = np.asarray(IMAGENET_STD, np.float32).reshape(1, 1, 3)
    expected = np.stack([(np.asarray(t, np.float32) / 255.0 - mean) / std for t in tiles])
    out = normalize_tiles(tiles, IMAGENET_MEAN, IMAGENET_STD)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 448, 448)
    assert torch.equal(out, torch.from_numpy(expected).permute(0, 3, 1, 2))
    assert out[1, 2, 0, 0] == np.float32((np.float32(1.0) - mean[0, 0, 2]) / std[0, 0, 2])
