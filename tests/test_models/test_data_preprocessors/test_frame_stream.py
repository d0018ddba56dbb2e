"""Streamed video frames: the pipeline packs a lazy source, the preprocessor prepares frames."""
import numpy as np
import pytest
import torch

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)


def _preprocessor(cls='VideoReferringDataPreprocessor', frame_size=16, **kwargs):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    return MODELS.build(dict(type=cls, frame_size=frame_size, **kwargs))


def test_prepare_frame_resizes_and_normalises_like_the_image_path():
    import mmcv
    pre = _preprocessor()
    frame = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    image = pre.prepare_frame(frame)
    assert image.shape == (1, 3, 16, 16) and image.dtype == torch.float32
    resized = torch.from_numpy(mmcv.imresize(frame, (16, 16))).permute(2, 0, 1).float()
    expected = (resized[[2, 1, 0]] - MEAN) / STD  # BGR -> RGB, ImageNet mean / std
    assert torch.equal(image[0], expected)
    # Channel order kept when the frames are RGB already.
    rgb = _preprocessor(bgr_to_rgb=False).prepare_frame(frame)
    assert torch.equal(rgb[0], (resized - MEAN) / STD) and rgb.is_contiguous()
    with pytest.raises(RuntimeError, match='frame_size is not set'):
        _preprocessor(frame_size=None).prepare_frame(frame)


@pytest.mark.parametrize('cls', ['ReferringDataPreprocessor',
                                 'VideoReferringDataPreprocessor'])
def test_prepare_frame_with_pillow_is_pil_bicubic_as_direct_resize(cls):
    from PIL import Image

    from desa2va_mm.datasets.transforms import DirectResize
    pre = _preprocessor(cls, frame_size=64, frame_resize='pillow')
    assert pre.frame_resize == 'pillow' and _preprocessor(cls).frame_resize == 'cv2'
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:150, 0:220]
    frame = np.stack([xx, yy, ((xx // 13 + yy // 9) % 2) * 200], -1) + \
        rng.integers(0, 40, (150, 220, 3))
    frame = frame.clip(0, 255).astype(np.uint8)
    image = pre.prepare_frame(frame)
    # Sa2VA: the RGB frame resized with PIL's default (bicubic) filter, then normalised.
    rgb = np.asarray(Image.fromarray(frame[..., ::-1].copy()).resize((64, 64)))
    expected = (torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() - MEAN) / STD
    assert image.shape == (1, 3, 64, 64) and torch.equal(image[0], expected)
    # The image pipelines' DirectResize gives the same SAM-2 input.
    resized = DirectResize(64)(dict(img=frame))['img']
    assert torch.equal(image, pre.normalize(torch.from_numpy(resized).permute(2, 0, 1)[None]))
    # cv2 (the default) differs on this frame.
    assert not torch.equal(image, _preprocessor(cls, frame_size=64).prepare_frame(frame))
    with pytest.raises(ValueError, match=r"frame_resize \(model.data_preprocessor\) must be "
                                         r"one of \('cv2', 'pillow'\).*got 'bicubic'"):
        _preprocessor(cls, frame_resize='bicubic')


@pytest.mark.parametrize('config,backend', [
    ('configs/_base_/models/sa2va_1b.py', 'pillow'),
    ('configs/_base_/models/sa2va_8b.py', 'pillow'),
    ('configs/_base_/models/sa2va_internvl3_2b.py', 'pillow'),
    ('configs/_base_/models/desa2va_4b.py', 'pillow'),
    ('configs/_base_/models/desa2va_internvl3_8b.py', 'pillow'),
    ('configs/_base_/models/sa2va_tiny.py', 'cv2'),
    ('configs/_base_/models/desa2va_tiny_video.py', 'cv2'),
])
def test_real_size_models_resize_frames_with_pillow_and_tiny_with_cv2(config, backend):
    import os.path as osp

    from mmengine.config import Config

    from desa2va_mm.registry import MODELS
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(osp.join(root, config))
    assert MODELS.build(cfg.model.data_preprocessor).frame_resize == backend


@pytest.mark.parametrize('read_ahead', [1, 2, 8])
def test_stream_is_lazy_and_reads_at_most_a_chunk_ahead(read_ahead):
    pre = _preprocessor(frame_read_ahead=read_ahead)
    pulled, prepared = [], []
    prepare = pre.prepare_frame
    pre.prepare_frame = lambda f: prepared.append(int(f[0, 0, 0]) // 40) or prepare(f)

    def frames():
        for i in range(5):
            pulled.append(i)
            yield np.full((10, 12, 3), 40 * i, np.uint8)

    stream = pre.stream_frames(frames(), video_id='v', frame_names=list('abcde'),
                               num_frames=5)
    assert stream.read_ahead == read_ahead
    assert pulled == [] and len(stream) == 5
    out = []
    for frame in stream:
        # Frames are read in chunks: never more than the frame's own chunk is read ahead.
        chunk_end = min((frame.index // read_ahead + 1) * read_ahead, 5) - 1
        assert pulled[-1] == chunk_end
        if read_ahead > 1:  # a chunk is prepared as it is read
            assert prepared[-1] == chunk_end
        out.append((frame.index, frame.name, frame.ori_shape))
        first = frame.image
        assert frame.image is first  # prepared once, kept with the frame
        assert torch.equal(first, prepare(np.full((10, 12, 3), 40 * frame.index, np.uint8)))
    assert out == [(i, n, (10, 12)) for i, n in enumerate('abcde')]
    assert prepared == list(range(5))  # each frame prepared exactly once
    with pytest.raises(ValueError, match=r'frame_read_ahead \(model.data_preprocessor\) '
                                         r'must be an int >= 1, got 0'):
        _preprocessor(frame_read_ahead=0)


def test_stream_errors_name_the_video_and_the_frame():
    pre = _preprocessor()
    with pytest.raises(TypeError, match=r"video 'v': frame 0 is a path"):
        list(pre.stream_frames(['x.jpg'], video_id='v'))
    with pytest.raises(ValueError, match=r"video 'v': frame 1 \('b'\) has shape \(4, 4\)"):
        list(pre.stream_frames([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)],
                               video_id='v', frame_names=['a', 'b']))

    def broken():
        yield np.zeros((4, 4, 3), np.uint8)
        raise OSError('decoder died')

    with pytest.raises(RuntimeError, match=r"video 'v': cannot read frame 1 .*decoder died"):
        list(pre.stream_frames(broken(), video_id='v'))
    with pytest.raises(TypeError, match='unknown length'):
        len(pre.stream_frames(iter([]), video_id='v'))


def test_test_batch_streams_the_packed_frame_source(tmp_path):
    import cv2
    from mmengine.dataset import pseudo_collate

    from desa2va_mm.datasets.transforms import PackVideoReferringInputs
    from desa2va_mm.datasets.video_io import FolderFrameSource
    from desa2va_mm.models.data_preprocessors import FrameStream
    paths = []
    for i in range(4):
        paths.append(str(tmp_path / f'{i:05d}.png'))
        cv2.imwrite(paths[-1], np.full((6, 8, 3), 30 * i, np.uint8))
    results = dict(video_id='vid', frame_paths=paths, frame_names=['f0', 'f1', 'f2', 'f3'],
                   key_frame_ids=[0], pixel_values=torch.zeros(1, 3, 4, 4),
                   input_ids=[torch.tensor([1, 2, 3])], ori_shape=(6, 8))
    packed = PackVideoReferringInputs()(results)
    source = packed['inputs']
    # A lazy source: nothing read, names and length known, picklable for data workers.
    assert isinstance(source, FolderFrameSource) and len(source) == 4
    assert source.frame_names == ['f0', 'f1', 'f2', 'f3']
    assert packed['data_samples'].metainfo['num_frames'] == 4
    pre = _preprocessor()
    batch = pre(pseudo_collate([packed]))
    (stream, ) = batch['inputs']['video_frames']
    assert isinstance(stream, FrameStream) and 'images' not in batch['inputs']
    assert batch['inputs']['input_ids'].tolist() == [[1, 2, 3]]
    frames = list(stream)
    assert [f.name for f in frames] == ['f0', 'f1', 'f2', 'f3']
    assert torch.equal(frames[2].image, pre.prepare_frame(cv2.imread(paths[2])))
    # Test videos and frame tensors do not mix in one batch.
    train_like = dict(inputs=torch.zeros(2, 3, 16, 16, dtype=torch.uint8),
                      data_samples=packed['data_samples'])
    with pytest.raises(ValueError, match='mixes streamed test videos with frame tensors'):
        pre(pseudo_collate([packed, train_like]))
