"""LoadReferringMasks: every mask form of the referring datasets, checked against the image."""
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from desa2va_mm.datasets.transforms import LoadReferringMasks
from desa2va_mm.datasets.transforms.load_referring_masks import (decode_segmentation,
                                                                 rasterize_labelme)


def _results(instances, h=20, w=30):
    return dict(img_path='img_7.jpg', ori_shape=(h, w), instances=instances)


def test_polygon_rle_union_and_empty():
    square = [[2, 2, 12, 2, 12, 12, 2, 12]]  # x0 y0 ... -> pixels x,y in [2, 12)
    block = np.zeros((20, 30), np.uint8)
    block[5:8, 20:25] = 1
    compressed = mask_utils.encode(np.asfortranarray(block))
    compressed_str = dict(size=compressed['size'], counts=compressed['counts'].decode())
    # Uncompressed RLE (column-major run lengths, as COCO crowd annotations store them).
    flat = block.flatten(order='F')
    runs, prev, n = [], 0, 0
    for v in flat:
        if v != prev:
            runs.append(n)
            n, prev = 0, v
        n += 1
    runs.append(n)
    uncompressed = dict(size=[20, 30], counts=runs)
    out = LoadReferringMasks()(_results([
        dict(mask=square), dict(mask=compressed_str), dict(mask=uncompressed),
        dict(mask=[square, compressed_str]), dict(mask=[]), dict(mask=None)]))
    masks = out['gt_masks'].masks
    assert masks.shape == (6, 20, 30) and masks.dtype == np.uint8
    # COCO polygon rasterisation covers the square's 10 x 10 interior (+ its edge row/col).
    assert masks[0, 3:12, 3:12].all() and masks[0].sum() in range(100, 122)
    assert masks[0, 15:, :].sum() == 0
    np.testing.assert_array_equal(masks[1], block)
    np.testing.assert_array_equal(masks[2], block)
    np.testing.assert_array_equal(masks[3], masks[0] | block)
    assert masks[4].sum() == 0 and masks[5].sum() == 0


def test_no_instance_gives_an_empty_mask_set():
    out = LoadReferringMasks()(dict(img_path='qa.jpg', ori_shape=(9, 11), instances=[]))
    assert out['gt_masks'].masks.shape == (0, 9, 11)


def test_rle_of_the_wrong_size_names_the_sample():
    rle = mask_utils.encode(np.asfortranarray(np.ones((30, 20), np.uint8)))  # transposed
    with pytest.raises(ValueError, match=r'img_7\.jpg \(target 1\): RLE of size \[30, 20\] '
                                         r'on an image of size \[20, 30\]'):
        LoadReferringMasks()(_results([dict(mask=[]), dict(mask=rle)]))


def test_bad_polygon_and_unknown_type():
    with pytest.raises(ValueError, match='at least 3 points'):
        decode_segmentation([[1, 1, 5, 5]], 10, 10, 'x.jpg')
    with pytest.raises(ValueError, match='unsupported mask type'):
        decode_segmentation(3.5, 10, 10, 'x.jpg')


def test_labelme_matches_lisa_painting_order():
    # A large target rectangle, a small "ignore" rectangle inside it and a "flag" shape that
    # must be skipped. LISA paints from the largest area to the smallest, so the small
    # ignore region wins inside the target.
    shapes = [
        dict(label='ignore', points=[[4, 4], [7, 4], [7, 7], [4, 7]]),
        dict(label='target', points=[[1, 1], [12, 1], [12, 10], [1, 10]]),
        dict(label='flag', points=[[0, 0], [19, 0], [19, 14], [0, 14]]),
    ]
    target, ignore = rasterize_labelme(shapes, 15, 20, 'a.json')
    expected_ignore = np.zeros((15, 20), np.uint8)
    expected_ignore[4:8, 4:8] = 1  # cv2 fills the closed polygon, both ends inclusive
    expected_target = np.zeros((15, 20), np.uint8)
    expected_target[1:11, 1:13] = 1
    expected_target[4:8, 4:8] = 0
    np.testing.assert_array_equal(ignore, expected_ignore)
    np.testing.assert_array_equal(target, expected_target)
    out = LoadReferringMasks(with_ignore=True)(
        dict(img_path='a.jpg', ori_shape=(15, 20),
             instances=[dict(mask=dict(labelme_shapes=shapes))]))
    np.testing.assert_array_equal(out['gt_masks'].masks[0], expected_target)
    np.testing.assert_array_equal(out['gt_ignore_masks'].masks[0], expected_ignore)
