"""DirectResize: the SAM-2 input resized with PIL bicubic, as Sa2VA's DirectResize."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures.mask import BitmapMasks
from PIL import Image

from desa2va_mm.datasets.transforms import DirectResize
from desa2va_mm.registry import TRANSFORMS


def _fixture_image(h=150, w=220):
    """A BGR image with edges, gradients and noise (what bilinear vs bicubic tells apart)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx // 13 + yy // 9) % 2) * 200],
                   axis=-1)
    img = img + rng.integers(0, 40, size=img.shape)
    return img.clip(0, 255).astype(np.uint8)


def test_equals_pil_bicubic_as_sa2va_calls_it():
    img = _fixture_image()
    out = TRANSFORMS.build(dict(type='DirectResize', scale=(1024, 1024)))(
        dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    # Sa2VA: an RGB PIL image, Image.resize((L, L)) with PIL's default filter.
    rgb = Image.fromarray(img[..., ::-1].copy(), mode='RGB')
    expected = np.asarray(rgb.resize((1024, 1024)))[..., ::-1]
    assert out['img'].dtype == np.uint8 and out['img'].shape == (1024, 1024, 3)
    assert np.array_equal(out['img'], expected)
    assert out['img_shape'] == (1024, 1024) and out['keep_ratio'] is False
    assert out['scale_factor'] == pytest.approx((1024 / 220, 1024 / 150))
    # Not what mmdet's Resize (OpenCV bilinear) gives.
    import mmcv
    assert not np.array_equal(out['img'], mmcv.imresize(img, (1024, 1024)))


def test_shrinking_and_non_square_sizes():
    img = _fixture_image(600, 500)
    out = DirectResize(scale=(64, 32))(dict(img=img))
    expected = np.asarray(Image.fromarray(img).resize((64, 32), Image.BICUBIC))
    assert out['img'].shape == (32, 64, 3) and np.array_equal(out['img'], expected)
    assert DirectResize(7).scale == (7, 7)


def test_masks_follow_with_nearest_and_reach_the_logits_as_in_sa2va():
    rng = np.random.default_rng(1)
    h, w = 333, 500
    masks = (rng.random((2, h, w)) > 0.5).astype(np.uint8)
    out = DirectResize(1024)(dict(img=_fixture_image(h, w), gt_masks=BitmapMasks(masks, h, w)))
    resized = out['gt_masks']
    assert isinstance(resized, BitmapMasks) and resized.masks.shape == (2, 1024, 1024)
    # The loss brings these 1024 masks to the 256 logits (nearest): the same pixels as
    # Sa2VA's one nearest resize from the original size.
    ours = F.interpolate(resized.to_tensor(torch.float32, 'cpu')[None], size=(256, 256),
                         mode='nearest')[0]
    sa2va = F.interpolate(torch.from_numpy(masks).float()[None], size=(256, 256),
                          mode='nearest')[0]
    assert torch.equal(ours, sa2va)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='DirectResize: scale must be'):
        DirectResize(scale=(0, 10))
    with pytest.raises(ValueError, match=r'a\.png must be an \(H, W, 3\) uint8 array'):
        DirectResize(8)(dict(img=np.zeros((4, 4), np.float32), img_path='a.png'))
