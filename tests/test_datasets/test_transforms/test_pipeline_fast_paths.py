"""The data pipeline's fast paths yield the very tensors of the straightforward code.

Each test computes the truth with a reference written here the plain way (PIL crops,
float arithmetic and a permute, ``np.stack`` then ``permute``, a list of resized masks
stacked) and requires bit-identical outputs from the transforms.
"""
import mmcv
import numpy as np
import pytest
import torch
from PIL import Image

from desa2va_mm.datasets.transforms import (InternVLTiling, PackVideoReferringInputs,
                                            ResizeVideoFrames)
from desa2va_mm.datasets.transforms.internvl_tiling import (IMAGENET_MEAN, IMAGENET_STD,
                                                            dynamic_tile_arrays,
                                                            dynamic_tiles)
from desa2va_mm.datasets.transforms.pack_video_referring_inputs import frames_to_tensor
from desa2va_mm.datasets.transforms.video_frame_tiling import VideoFrameTiling


def reference_tiles(img_bgr: np.ndarray, tile: int, max_tiles: int,
                    thumbnail: bool) -> torch.Tensor:
    """InternVL's way: PIL crops of the resized image, float32 normalisation, permute."""
    if img_bgr.ndim == 2:
        img_bgr = np.repeat(img_bgr[..., None], 3, axis=2)
    rgb = Image.fromarray(np.ascontiguousarray(img_bgr[..., :3][..., ::-1]))
    mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 1, 3)
    std = np.asarray(IMAGENET_STD, np.float32).reshape(1, 1, 3)
    arrays = np.stack([(np.asarray(t.convert('RGB'), np.float32) / 255.0 - mean) / std
                       for t in dynamic_tiles(rgb, 1, max_tiles, tile, thumbnail)])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()


def random_image(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize('shape, tile, max_tiles, thumbnail, num_tiles', [
    ((48, 64, 3), 16, 12, True, 13),     # COCO's 4:3 at 1/10 scale: 4 x 3 grid + thumbnail
    ((30, 100, 3), 16, 12, True, None),  # wide
    ((40, 40), 16, 12, True, None),      # grey
    ((40, 52, 4), 16, 6, False, None),   # 4 channels, no thumbnail
    ((37, 53, 3), 16, 1, True, 1),       # one tile: no thumbnail either
])
def test_internvl_tiling_is_bit_identical_to_pil_crops(shape, tile, max_tiles, thumbnail,
                                                       num_tiles):
    img = random_image(shape)
    out = InternVLTiling(tile_size=tile, max_tiles=max_tiles,
                         use_thumbnail=thumbnail).transform({'img': img})
    expected = reference_tiles(img, tile, max_tiles, thumbnail)
    assert out['pixel_values'].dtype == torch.float32
    assert out['pixel_values'].shape == expected.shape
    assert torch.equal(out['pixel_values'], expected)
    assert out['num_tiles'] == expected.shape[0]
    if num_tiles is not None:
        assert out['num_tiles'] == num_tiles


def test_internvl_tiling_at_real_size_is_bit_identical():
    # 640 x 480 at 448: the 4 x 3 grid of 1792 x 1344 + thumbnail, every value compared.
    img = random_image((480, 640, 3), seed=1)
    out = InternVLTiling(tile_size=448).transform({'img': img})
    assert out['num_tiles'] == 13
    assert torch.equal(out['pixel_values'], reference_tiles(img, 448, 12, True))


def test_tile_arrays_are_the_pil_crops_pixels():
    rgb = Image.fromarray(random_image((48, 64, 3), seed=2))
    crops = dynamic_tiles(rgb, 1, 12, 16, True)
    arrays = dynamic_tile_arrays(rgb, 1, 12, 16, True)
    assert len(arrays) == len(crops) == 13
    for crop, array in zip(crops, arrays):
        np.testing.assert_array_equal(array, np.asarray(crop))


def test_video_frame_tiling_equals_per_frame_tiling_concatenated():
    frames = [random_image((40, 30, 3), seed=s) for s in range(4)]
    out = VideoFrameTiling(tile_size=16).transform({'frames': frames})
    expected = torch.cat([reference_tiles(f, 16, 1, False) for f in frames])
    assert out['num_tiles'] == 4
    assert torch.equal(out['pixel_values'], expected)


def test_resize_video_frames_masks_equal_stacked_resizes():
    rng = np.random.default_rng(3)
    masks = (rng.random((2, 3, 20, 28)) > 0.5).astype(np.uint8)
    frames = [random_image((20, 28, 3), seed=s) for s in range(3)]
    out = ResizeVideoFrames(scale=(33, 17)).transform(
        {'frames': list(frames), 'gt_masks': masks.copy()})
    flat = masks.reshape(6, 20, 28)
    expected = np.stack([mmcv.imresize(m, (33, 17), interpolation='nearest')
                         for m in flat]).reshape(2, 3, 17, 33)
    assert out['gt_masks'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_masks'], expected)
    assert out['img_shape'] == (17, 33)
    for got, frame in zip(out['frames'], frames):
        np.testing.assert_array_equal(got, mmcv.imresize(frame, (33, 17)))


def test_resize_video_frames_with_no_expression_keeps_the_shape():
    out = ResizeVideoFrames(scale=8).transform(
        {'frames': [random_image((4, 4, 3))], 'gt_masks': np.zeros((0, 1, 4, 4), np.uint8)})
    assert out['gt_masks'].shape == (0, 1, 8, 8) and out['gt_masks'].dtype == np.uint8


def test_pack_video_inputs_equal_stack_then_permute():
    frames = [random_image((12, 10, 3), seed=s) for s in range(5)]
    masks = (np.random.default_rng(4).random((2, 5, 12, 10)) > 0.5).astype(np.uint8)
    packed = PackVideoReferringInputs().transform(
        {'frames': frames, 'gt_masks': masks, 'video_id': 'v0'})
    expected = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
    assert packed['inputs'].dtype == torch.uint8 and packed['inputs'].is_contiguous()
    assert torch.equal(packed['inputs'], expected)
    got_masks = packed['data_samples'].gt_instances.masks
    np.testing.assert_array_equal(got_masks.masks, masks.reshape(10, 12, 10))


def test_frames_to_tensor_keeps_dtype_and_names_the_video_on_mismatch():
    frames = [np.full((3, 2, 3), 1.5, np.float32), np.zeros((3, 2, 3), np.float32)]
    out = frames_to_tensor(frames)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 3, 2)
    assert torch.equal(out[0], torch.full((3, 3, 2), 1.5))
    with pytest.raises(ValueError, match=r"video 'v7': frames differ in shape.*"
                                         r'ResizeVideoFrames'):
        frames_to_tensor([np.zeros((3, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)],
                         'v7')
