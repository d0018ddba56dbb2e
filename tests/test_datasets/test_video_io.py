"""Frame sources: folders, mp4 (PyAV) and arrays, one frame at a time; errors name the frame."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from desa2va_mm.datasets.video_io import (ArrayFrameSource, CorruptFrameError,
                                          FolderFrameSource, VideoFileFrameSource,
                                          open_frame_source, read_image_size)


def _frames(num, h=32, w=48):
    # Flat frames of distinct brightness survive JPEG / H.264 nearly unchanged.
    return [np.full((h, w, 3), (20 + 30 * i, 100, 200 - 20 * i), np.uint8) for i in range(num)]


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'clip'
    root.mkdir()
    for i, frame in enumerate(_frames(5)):
        cv2.imwrite(str(root / f'{i:05d}.jpg'), frame)
    (root / 'notes.txt').write_text('not a frame')
    return str(root)


def _close(a, b, tol=4):
    return np.abs(a.astype(int) - b.astype(int)).max() <= tol


def test_folder_source_random_access_and_streaming(folder):
    source = open_frame_source(folder, video_id='clip')
    assert isinstance(source, FolderFrameSource) and len(source) == 5
    assert source.frame_names == ['00000', '00001', '00002', '00003', '00004']
    expected = _frames(5)
    assert _close(source[3], expected[3]) and _close(source[-1], expected[4])
    streamed = list(source)
    assert len(streamed) == 5 and all(_close(a, b) for a, b in zip(streamed, expected))
    got = source.get_frames([4, 0, 4])
    assert _close(got[0], expected[4]) and _close(got[1], expected[0]) and got[0] is got[2]
    assert read_image_size(osp.join(folder, '00000.jpg')) == (32, 48)
    with pytest.raises(IndexError, match=r"video 'clip': frame 5 is out of range"):
        source[5]


def test_folder_errors_name_video_and_frame(folder, tmp_path):
    paths = [osp.join(folder, f'{i:05d}.jpg') for i in range(5)]
    os.remove(paths[2])
    source = FolderFrameSource(paths, video_id='clip')
    assert _close(source[1], _frames(5)[1])  # only the missing frame fails, when read
    with pytest.raises(FileNotFoundError, match=r"video 'clip', frame 2 \('00002'\)"):
        source[2]
    with open(paths[3], 'wb') as f:
        f.write(b'\x89PNG not really')
    with pytest.raises(CorruptFrameError, match=r"video 'clip', frame 3 \('00003'\).*not a "
                       r'decodable image'):
        source[3]
    noise = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    cv2.imwrite(paths[4], noise)
    with open(paths[4], 'rb') as f:
        data = f.read()
    with open(paths[4], 'wb') as f:
        f.write(data[:len(data) * 3 // 4])
    assert cv2.imread(paths[4]) is not None  # cv2.imread accepts the truncated file
    with pytest.raises(CorruptFrameError, match=r"frame 4 \('00004'\).*truncated JPEG"):
        source[4]
    open(paths[0], 'wb').close()
    with pytest.raises(CorruptFrameError, match=r"frame 0 \('00000'\).*empty"):
        source[0]
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match=r"video 'empty'.*holds no image file"):
        open_frame_source(str(empty))
    with pytest.raises(FileNotFoundError, match=r"video 'gone'.*does not exist"):
        FolderFrameSource(str(tmp_path / 'gone'))
    with pytest.raises(ValueError, match='zero frames'):
        open_frame_source([], video_id='v')


def test_jpeg_with_trailing_bytes_is_not_called_truncated(tmp_path):
    path = str(tmp_path / 'a.jpg')
    cv2.imwrite(path, _frames(1)[0])
    with open(path, 'ab') as f:
        f.write(b'trailing metadata')
    assert _close(FolderFrameSource([path])[0], _frames(1)[0])


def test_array_source_checks_frames_and_flips_rgb():
    frames = _frames(3)
    source = open_frame_source(np.stack(frames), video_id='arr')
    assert isinstance(source, ArrayFrameSource) and len(source) == 3
    assert source[1] is frames[1] or np.array_equal(source[1], frames[1])
    rgb = ArrayFrameSource([f[:, :, ::-1] for f in frames], channel_order='rgb')
    assert np.array_equal(rgb[2], frames[2])
    with pytest.raises(ValueError, match=r"video 'arr', frame 1: expected an \(H, W, 3\) uint8"):
        ArrayFrameSource([frames[0], frames[1].astype(np.float32)], video_id='arr')
    with pytest.raises(ValueError, match='only paths or only arrays'):
        open_frame_source(['a.jpg', frames[0]])


def _write_mp4(path, frames, fps=5):
    import av
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = frames[0].shape[:2] if frames else (32, 48)
        stream.pix_fmt = 'yuv420p'
        if not frames:
            container.start_encoding()  # write the header of a frame-less file
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='bgr24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_mp4_source_counts_streams_and_seeks(tmp_path):
    path = str(tmp_path / 'clip.mp4')
    frames = _frames(7)
    _write_mp4(path, frames)
    source = open_frame_source(path)
    assert isinstance(source, VideoFileFrameSource) and source.video_id == 'clip'
    assert len(source) == 7 and source.frame_names[-1] == '00006'
    streamed = list(source)
    assert len(streamed) == 7
    assert all(_close(a, b, tol=12) for a, b in zip(streamed, frames))
    got = source.get_frames([5, 1, 5])
    assert _close(got[0], frames[5], 12) and _close(got[1], frames[1], 12)
    assert _close(source[6], frames[6], 12)


def test_mp4_errors_name_the_video(tmp_path):
    empty = str(tmp_path / 'empty.mp4')
    _write_mp4(empty, [])
    with pytest.raises(ValueError, match=r"video 'empty'.*(zero frames|no video stream|cannot)"):
        open_frame_source(empty)
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(os.urandom(2048))
    with pytest.raises(CorruptFrameError, match=r"video 'bad'.*bad.mp4"):
        open_frame_source(str(bad))
    with pytest.raises(FileNotFoundError, match=r"video 'nope'"):
        open_frame_source(str(tmp_path / 'nope.mp4'))
