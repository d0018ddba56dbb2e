"""InternVL dynamic tiling: grid choice, tie-breaking, thumbnail, normalisation."""
import numpy as np
import pytest
import torch
from PIL import Image

from desa2va_mm.datasets.transforms import InternVLTiling, dynamic_tiles
from desa2va_mm.datasets.transforms.internvl_tiling import find_closest_aspect_ratio


def _ratios(lo, hi):
    r = set((i, j) for n in range(lo, hi + 1) for i in range(1, n + 1) for j in range(1, n + 1)
            if lo <= i * j <= hi)
    return sorted(r, key=lambda x: x[0] * x[1])


@pytest.mark.parametrize('size,expected', [((896, 448), (2, 1)), ((448, 1344), (1, 3)),
                                           ((1000, 1000), (3, 3)), ((600, 600), (1, 1)), ((1792, 1344), (4, 3))])
def test_grid_matches_internvl_rule(size, expected):
    w, h = size
    assert find_closest_aspect_ratio(w / h, _ratios(1, 12), w, h, 448) == expected


def test_square_tie_prefers_larger_grid_only_for_large_images():
    ratios = _ratios(1, 12)
    # (1,1), (2,2), (3,3) all match a square exactly; a large image takes the last one
    # whose area test passes.
    assert find_closest_aspect_ratio(1.0, ratios, 2000, 2000, 448) == (3, 3)
    assert find_closest_aspect_ratio(1.0, ratios, 300, 300, 448) == (1, 1)


def test_tiles_thumbnail_and_normalisation():
    img = Image.fromarray(np.full((448, 896, 3), 255, np.uint8))
    tiles = dynamic_tiles(img, 1, 12, 448, use_thumbnail=True)
    assert len(tiles) == 3 and all(t.size == (448, 448) for t in tiles)
    t = InternVLTiling(tile_size=448)
    out = t({'img': np.full((448, 896, 3), 255, np.uint8)})
    assert out['pixel_values'].shape == (3, 3, 448, 448) and out['num_tiles'] == 3
    white = (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert torch.allclose(out['pixel_values'][0, :, 0, 0], torch.tensor(white, dtype=torch.float32))


def test_single_tile_for_video_frames_and_bgr_to_rgb():
    bgr = np.zeros((50, 80, 3), np.uint8)
    bgr[..., 0] = 255  # blue in BGR
    out = InternVLTiling(tile_size=28, max_tiles=1, use_thumbnail=True,
                         mean=(0, 0, 0), std=(1, 1, 1))({'img': bgr})
    assert out['pixel_values'].shape == (1, 3, 28, 28)
    assert out['pixel_values'][0, 2].mean() > 0.99 and out['pixel_values'][0, 0].max() < 0.01


def test_bad_tile_counts():
    with pytest.raises(ValueError):
        InternVLTiling(min_tiles=3, max_tiles=2)
