"""ResizeVideoFrames: PIL bicubic (Sa2VA, real-size pipelines) or OpenCV bilinear (tiny)."""
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from desa2va_mm.datasets.transforms import DirectResize, ResizeVideoFrames
from desa2va_mm.registry import TRANSFORMS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _frames(num=3, h=150, w=220):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx // 13 + yy // 9) % 2) * 200],
                    axis=-1)
    return [(base + rng.integers(0, 40, size=base.shape)).clip(0, 255).astype(np.uint8)
            for _ in range(num)]


def test_pillow_backend_is_pil_bicubic_as_direct_resize():
    frames = _frames()
    masks = np.zeros((2, 3, 150, 220), np.uint8)
    masks[0, 1, 20:90, 30:140] = 1
    out = TRANSFORMS.build(dict(type='ResizeVideoFrames', scale=(128, 96),
                                backend='pillow'))(dict(frames=frames, gt_masks=masks))
    for frame, resized in zip(frames, out['frames']):
        expected = np.asarray(Image.fromarray(frame).resize((128, 96), Image.BICUBIC))
        assert np.array_equal(resized, expected)
        # The image pipelines' resize gives the same pixels.
        assert np.array_equal(resized, DirectResize((128, 96))(dict(img=frame))['img'])
    # Masks: nearest neighbour whichever the frames' backend.
    expected_mask = cv2.resize(masks[0, 1], (128, 96), interpolation=cv2.INTER_NEAREST)
    assert out['gt_masks'].shape == (2, 3, 96, 128)
    assert np.array_equal(out['gt_masks'][0, 1], expected_mask)
    assert out['img_shape'] == (96, 128)


def test_cv2_backend_is_the_default_and_opencv_bilinear():
    frames = _frames()
    transform = ResizeVideoFrames(scale=(128, 96))
    assert transform.backend == 'cv2'
    assert repr(transform) == "ResizeVideoFrames(scale=(128, 96), backend='cv2')"
    out = transform(dict(frames=frames))
    for frame, resized in zip(frames, out['frames']):
        assert np.array_equal(resized, cv2.resize(frame, (128, 96),
                                                  interpolation=cv2.INTER_LINEAR))
        pil = np.asarray(Image.fromarray(frame).resize((128, 96), Image.BICUBIC))
        assert not np.array_equal(resized, pil)


def test_bad_backend_is_named():
    with pytest.raises(ValueError, match=r"ResizeVideoFrames: backend must be one of "
                                         r"\('cv2', 'pillow'\).*got 'bilinear'"):
        ResizeVideoFrames(scale=64, backend='bilinear')


def _resize_step(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    steps = [t for t in cfg.train_dataloader.dataset.pipeline
             if t['type'] == 'ResizeVideoFrames']
    assert len(steps) == 1, config
    return TRANSFORMS.build(steps[0])


def test_real_size_video_pipelines_use_pillow_and_tiny_keeps_cv2():
    assert _resize_step('configs/_base_/datasets/mevis.py').backend == 'pillow'
    assert _resize_step('configs/_base_/datasets/synthetic_mevis_tiny.py').backend == 'cv2'
