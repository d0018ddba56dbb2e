"""desa2va_mm.structures.rle: round trips against pycocotools, every RLE form accepted."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from desa2va_mm.structures import (decode_rle, encode_mask, encode_masks, merge_rles,
                                   rle_area, rle_bbox, rle_from_polygons, to_coco_rle,
                                   to_json_rle)


def _masks(seed=0, num=3, h=23, w=31):
    rng = np.random.default_rng(seed)
    masks = rng.random((num, h, w)) > 0.6
    masks[-1] = False  # an empty mask is encoded too
    return masks


def test_encode_round_trips_and_matches_pycocotools():
    masks = _masks()
    rles = encode_masks(masks)
    reference = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    assert len(rles) == 3
    for mask, rle, ref in zip(masks, rles, reference):
        # JSON form: str counts, int size; the same bytes pycocotools writes.
        assert rle == {'size': [23, 31], 'counts': ref['counts'].decode('ascii')}
        assert json.loads(json.dumps(rle)) == rle
        assert encode_mask(mask) == rle
        decoded = decode_rle(rle)
        assert decoded.dtype == np.uint8 and decoded.shape == (23, 31)
        np.testing.assert_array_equal(decoded, mask)
        np.testing.assert_array_equal(decoded, mask_utils.decode(ref))
    assert encode_masks(np.zeros((0, 4, 5), bool)) == []
    with pytest.raises(ValueError, match=r'\(H, W\) mask, got shape \(2, 3, 4\)'):
        encode_mask(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r'\(E, H, W\) masks, got shape \(3, 4\)'):
        encode_masks(np.zeros((3, 4)))


def test_every_form_decodes_the_same():
    mask = _masks(1)[0]
    json_rle = encode_mask(mask)
    coco = to_coco_rle(json_rle)
    assert isinstance(coco['counts'], bytes) and to_json_rle(coco) == json_rle
    # Uncompressed RLE (a list of run lengths, column-major, starting with zeros).
    flat = mask.T.reshape(-1).astype(np.uint8)
    change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    runs = np.diff(np.concatenate([[0], change])).tolist()
    uncompressed = {'size': [23, 31], 'counts': runs}
    assert sum(runs) == mask.size
    for rle in (json_rle, coco, uncompressed):
        np.testing.assert_array_equal(decode_rle(rle), mask)
        assert rle_area(rle) == int(mask.sum()) == int(mask_utils.area(coco))


def test_polygons_merge_area_and_box_against_pycocotools():
    square = [2.0, 2.0, 12.0, 2.0, 12.0, 9.0, 2.0, 9.0]
    triangle = [20, 3, 28, 3, 24, 15]
    rle = rle_from_polygons([square, triangle], 23, 31)
    reference = mask_utils.merge(mask_utils.frPyObjects([square, triangle], 23, 31))
    assert rle == reference
    mask = decode_rle(rle)
    assert mask[5, 5] == 1 and mask[5, 24] == 1 and mask[20, 5] == 0
    assert rle_bbox(rle) == [float(v) for v in mask_utils.toBbox(reference)]
    # Union of two RLEs (JSON and pycocotools forms mixed).
    a, b = encode_mask(mask * 0 + np.eye(23, 31, dtype=np.uint8)), to_coco_rle(encode_mask(mask))
    union = decode_rle(merge_rles([a, b]))
    np.testing.assert_array_equal(union, np.maximum(mask, np.eye(23, 31, dtype=np.uint8)))
    both = decode_rle(merge_rles([a, b], intersect=True))
    np.testing.assert_array_equal(both, np.minimum(mask, np.eye(23, 31, dtype=np.uint8)))
    assert rle_bbox(encode_mask(np.zeros((4, 4)))) == [0.0, 0.0, 0.0, 0.0]
