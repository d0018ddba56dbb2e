"""VideoFrameTiling, ResizeVideoFrames, PackVideoReferringInputs and video batching."""
import numpy as np
import pytest
import torch

from desa2va_mm.datasets.transforms import (InternVLTiling, PackVideoReferringInputs,
                                            ResizeVideoFrames, VideoFrameTiling)


def _frames(num, h=30, w=40):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(num)]


def test_frame_tiling_is_one_internvl_tile_per_frame():
    frames = _frames(3)
    out = VideoFrameTiling(tile_size=56)(dict(frames=frames, expressions=['a', 'b']))
    assert out['pixel_values'].shape == (3, 3, 56, 56) and out['num_tiles'] == 3
    single = InternVLTiling(tile_size=56, max_tiles=1, use_thumbnail=False)
    torch.testing.assert_close(out['pixel_values'][2],
                               single({'img': frames[2]})['pixel_values'][0])
    assert out['text'] == ['a', 'b']
    with pytest.raises(KeyError, match="video 'v'"):
        VideoFrameTiling()(dict(video_id='v', frames=[]))


def test_resize_keeps_binary_masks_aligned():
    masks = np.zeros((2, 3, 30, 40), np.uint8)
    masks[1, 2, :15, :20] = 1  # top-left quarter
    out = ResizeVideoFrames(scale=(80, 60))(dict(frames=_frames(3), gt_masks=masks))
    assert [f.shape for f in out['frames']] == [(60, 80, 3)] * 3
    assert out['gt_masks'].shape == (2, 3, 60, 80)
    assert set(np.unique(out['gt_masks'])) == {0, 1}
    assert out['gt_masks'][1, 2].sum() == 30 * 40 and out['gt_masks'][0].sum() == 0


def test_pack_train_and_test_samples():
    frames = _frames(4, 16, 16)
    masks = np.random.default_rng(1).integers(0, 2, (2, 4, 16, 16)).astype(np.uint8)
    packed = PackVideoReferringInputs()(dict(video_id='v', frames=frames, gt_masks=masks,
                                             frame_ids=np.arange(4), exp_ids=['0', '1'],
                                             pixel_values=torch.zeros(4, 3, 8, 8)))
    assert packed['inputs'].shape == (4, 3, 16, 16)
    assert torch.equal(packed['inputs'][3].permute(1, 2, 0), torch.from_numpy(frames[3]))
    gt = packed['data_samples'].gt_instances.masks.masks
    np.testing.assert_array_equal(gt[1 * 4 + 2], masks[1, 2])  # row e * T + t
    meta = packed['data_samples'].metainfo
    assert meta['is_video'] and meta['num_frames'] == 4 and meta['frame_ids'] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='ResizeVideoFrames'):
        PackVideoReferringInputs()(dict(video_id='v', frames=frames, gt_masks=masks[..., :8]))

    test = PackVideoReferringInputs()(dict(video_id='w', frames=frames[:2],
                                           frame_paths=[f'{i}.jpg' for i in range(9)],
                                           key_frame_ids=[0, 1], gt_rles=None,
                                           ori_shape=(16, 16)))
    # The frames stay on disk: a lazy source (no file is opened here: none exists).
    source = test['inputs']
    assert type(source).__name__ == 'FolderFrameSource' and len(source) == 9
    assert source.video_id == 'w' and source.frame_names[:2] == ['0', '1']
    assert test['data_samples'].metainfo['num_frames'] == 9
    # A video_source (here frames in memory) is packed the same way.
    arrays = PackVideoReferringInputs()(dict(video_id='w', video_source=frames,
                                             key_frame_ids=[0]))
    assert len(arrays['inputs']) == 4 and np.array_equal(arrays['inputs'][1], frames[1])
    with pytest.raises(KeyError, match="video 'w'.*frame_paths or video_source"):
        PackVideoReferringInputs()(dict(video_id='w', frames=frames))


def test_preprocessor_concatenates_and_normalises_frames():
    import desa2va_mm  # noqa: F401
    from desa2va_mm.models.data_preprocessors import VideoReferringDataPreprocessor
    frames = _frames(3, 16, 16)
    sample = PackVideoReferringInputs()(dict(
        video_id='v', frames=frames, gt_masks=np.zeros((1, 3, 16, 16), np.uint8),
        pixel_values=torch.zeros(3, 3, 8, 8), input_ids=[torch.tensor([5, 6, 7])],
        labels=[torch.tensor([-100, 6, 7])]))
    pre = VideoReferringDataPreprocessor()
    out = pre(dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']]), True)
    images = out['inputs']['images']
    assert images.shape == (3, 3, 16, 16)
    expected = (torch.from_numpy(frames[1][..., ::-1].copy()).permute(2, 0, 1).float()
                - pre.mean) / pre.std
    torch.testing.assert_close(images[1], expected)
    assert out['inputs']['frame_sample_idx'].tolist() == [0, 0, 0]
    assert out['inputs']['input_ids'].tolist() == [[5, 6, 7]]
