"""tools/analysis_tools/browse_dataset.py on the synthetic RefCOCO set and the video fixtures:
one file per sample, the ground-truth mask pixels coloured, everything else the raw image."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT, load_tiny_cfg
from video_data_fixtures import frame_names, object_mask, write_mevis

IMAGE_CONFIG = osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py')
VIDEO_CONFIG = osp.join(REPO_ROOT, 'configs/desa2va_video/desa2va_tiny_video.py')
MIN_SIZE = 320


def _read_rgb(path):
    return cv2.imread(path)[..., ::-1]


def _upscaled(image, min_size=MIN_SIZE):
    h, w = image.shape[:2]
    scale = max(1.0, min_size / min(h, w))
    size = (int(round(w * scale)), int(round(h * scale)))
    return size, cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def _inside_outside(mask, size):
    """Pixels well inside ``mask`` and well away from it once upscaled to ``size`` (the
    2-pixel outline and the nearest-neighbour edge stay out of both)."""
    big = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    kernel = np.ones((9, 9), np.uint8)
    inside = cv2.erode(big, kernel).astype(bool)
    outside = ~cv2.dilate(big, kernel).astype(bool)
    assert inside.sum() > 50 and outside.sum() > 50
    return inside, outside


def _browse(*argv):
    from tools.analysis_tools.browse_dataset import main
    return main([*map(str, argv), '--not-show'])


def test_image_test_phase_draws_each_sentence_mask(synthetic_refcoco, tmp_path, capsys):
    from desa2va_mm.registry import DATASETS
    from desa2va_mm.utils import register_all_modules
    out = tmp_path / 'browse'
    files = _browse(IMAGE_CONFIG, '--phase', 'test', '--output-dir', out, '--cfg-options',
                    f'test_dataloader.dataset.data_root={synthetic_refcoco}/')
    register_all_modules()
    dataset = DATASETS.build(load_tiny_cfg(synthetic_refcoco).test_dataloader.dataset)
    assert len(files) == len(dataset) == len(os.listdir(out))
    assert f'{len(files)} file(s) written to {out}' in capsys.readouterr().out
    for index in range(len(dataset)):
        sample = dataset[index]['data_samples']
        meta = sample.metainfo
        stem = osp.splitext(osp.basename(meta['img_path']))[0]
        assert files[index] == str(out / f'{index:05d}_{stem}.png')
        figure = _read_rgb(files[index])
        size, raw = _upscaled(_read_rgb(meta['img_path']))
        # One row per sentence; the last row's image sits above the 8-pixel bottom margin.
        panel = figure[-8 - size[1]:-8, :size[0]].astype(int)
        inside, outside = _inside_outside(meta['gt_masks'].to_ndarray()[-1], size)
        green = np.array([40, 200, 40])
        assert np.abs(panel[inside] - raw[inside]).mean() > 20
        np.testing.assert_allclose(panel[inside], (raw[inside] * 0.5 + green * 0.5), atol=1.5)
        np.testing.assert_array_equal(panel[outside], raw[outside])
        assert figure.shape[0] > len(meta['text']) * size[1]  # a row per sentence


def test_image_train_phase_draws_the_sampled_targets(synthetic_refcoco, tmp_path):
    """Training samples are drawn as the model sees them (the pipeline's image and masks);
    ``--seed`` repeats the random sampling of expressions, so the test draws the same."""
    from mmengine.runner import set_random_seed

    from desa2va_mm.registry import DATASETS
    from desa2va_mm.utils import register_all_modules
    out = tmp_path / 'train'
    files = _browse(IMAGE_CONFIG, '--output-dir', out, '--max-samples', 3, '--seed', 7,
                    '--cfg-options', f'train_dataloader.dataset.data_root={synthetic_refcoco}/')
    assert len(files) == 3 and sorted(os.listdir(out)) == [osp.basename(f) for f in files]
    register_all_modules()
    set_random_seed(7)
    dataset = DATASETS.build(load_tiny_cfg(synthetic_refcoco).train_dataloader.dataset)
    green = np.array([40, 200, 40])
    for index, path in enumerate(files):
        item = dataset[index]
        image = np.ascontiguousarray(item['inputs'].permute(1, 2, 0).numpy()[..., ::-1])
        masks = item['data_samples'].gt_instances.masks.to_ndarray()
        assert len(masks) == len(item['data_samples'].text)
        figure = _read_rgb(path).astype(int)
        size, raw = _upscaled(image)
        panel = figure[-8 - size[1]:-8, :size[0]]
        inside, outside = _inside_outside(masks[-1], size)
        np.testing.assert_allclose(panel[inside], raw[inside] * 0.5 + green * 0.5, atol=1.5)
        np.testing.assert_array_equal(panel[outside], raw[outside])


@pytest.fixture
def mevis_fixture(tmp_path):
    root = str(tmp_path / 'mevis')
    write_mevis(root)
    return root


def _video_options(root, phase='test'):
    return ['--cfg-options', f'{phase}_dataloader.dataset.data_root={root}/']


def test_video_test_phase_strip_has_each_frames_masks(mevis_fixture, tmp_path):
    out = tmp_path / 'strips'
    files = _browse(VIDEO_CONFIG, '--phase', 'test', '--output-dir', out,
                    *_video_options(mevis_fixture))
    assert [osp.basename(f) for f in files] == ['00000_vid_a.png', '00001_vid_b.png']
    figure = _read_rgb(files[0]).astype(int)
    frames = osp.join(mevis_fixture, 'JPEGImages', 'vid_a')
    for t, name in enumerate(frame_names('vid_a')):  # 4 frames, all in the strip
        size, raw = _upscaled(_read_rgb(osp.join(frames, name + '.jpg')))
        x0 = t * (size[0] + 6)
        panel = figure[-size[1]:, x0:x0 + size[0]]
        inside, _ = _inside_outside(object_mask('vid_a', 0, t), size)
        assert np.abs(panel[inside] - raw[inside]).mean() > 20, f'frame {t}'
        either = object_mask('vid_a', 0, t) | object_mask('vid_a', 1, t)
        _, outside = _inside_outside(either, size)
        np.testing.assert_array_equal(panel[outside], raw[outside], err_msg=f'frame {t}')
    # Object 1 is out of view on frames 1 and 2: its frame-0 place stays raw there.
    size, raw = _upscaled(_read_rgb(osp.join(frames, frame_names('vid_a')[1] + '.jpg')))
    panel = figure[-size[1]:, size[0] + 6:2 * size[0] + 6]
    where_it_was, _ = _inside_outside(object_mask('vid_a', 1, 0), size)
    np.testing.assert_array_equal(panel[where_it_was], raw[where_it_was])


def test_video_mp4_has_every_frame_with_masks(mevis_fixture, tmp_path):
    import av
    out = tmp_path / 'mp4'
    files = _browse(VIDEO_CONFIG, '--phase', 'test', '--video-format', 'mp4', '--output-dir',
                    out, '--fps', 2, *_video_options(mevis_fixture))
    assert [osp.basename(f) for f in files] == ['00000_vid_a.mp4', '00001_vid_b.mp4']
    with av.open(files[0]) as container:
        decoded = [f.to_ndarray(format='rgb24').astype(int) for f in container.decode(video=0)]
    assert len(decoded) == len(frame_names('vid_a')) == 4
    for t, frame in enumerate(decoded):
        size, raw = _upscaled(_read_rgb(osp.join(mevis_fixture, 'JPEGImages', 'vid_a',
                                                 frame_names('vid_a')[t] + '.jpg')))
        panel = frame[-size[1]:, :size[0]]  # the legend is above the frame
        inside, _ = _inside_outside(object_mask('vid_a', 0, t), size)
        _, outside = _inside_outside(object_mask('vid_a', 0, t) | object_mask('vid_a', 1, 0),
                                     size)
        # H.264 is lossy: compare means.
        assert np.abs(panel[inside] - raw[inside]).mean() > 20, f'frame {t}'
        assert np.abs(panel[outside] - raw[outside]).mean() < 6, f'frame {t}'


def test_video_train_phase_strip(tmp_path):
    """The synthetic MeViS training pipeline: 5 sampled frames, 3 sampled expressions."""
    from desa2va_mm.synthetic import make_synthetic_mevis
    root = str(tmp_path / 'synthetic_mevis')
    make_synthetic_mevis(root, num_videos=2, num_frames=6, seed=0, splits=(('train', 1.0), ))
    out = tmp_path / 'train'
    files = _browse(VIDEO_CONFIG, '--output-dir', out, '--strip-frames', 0,
                    *_video_options(osp.join(root, 'train'), 'train'))
    assert len(files) == 2
    figure = _read_rgb(files[0])
    # 5 frames of 128 px upscaled to 320, 4 gaps of 6 px.
    assert figure.shape[1] == 5 * MIN_SIZE + 4 * 6
    bottom = figure[-MIN_SIZE:].astype(int)
    colourful = np.abs(bottom - bottom.mean(-1, keepdims=True)).max(-1) > 60
    assert colourful.mean() > 0.001  # mask blends on the grey-ish background


def test_video_strip_indices():
    from tools.analysis_tools.browse_dataset import strip_indices
    assert strip_indices(4, 6) == [0, 1, 2, 3]
    assert strip_indices(80, 6) == [0, 16, 32, 47, 63, 79]
    assert strip_indices(10, 0) == list(range(10))


def test_arguments(capsys, tmp_path):
    from tools.analysis_tools.browse_dataset import main
    with pytest.raises(SystemExit) as exc:
        main(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in ('--output-dir', '--not-show', '--show-interval',
                                        '--cfg-options', '--phase', '--video-format',
                                        '--seed'))
    with pytest.raises(SystemExit) as exc:
        main([IMAGE_CONFIG, '--not-show'])
    assert exc.value.code == 2
    assert '--not-show without --output-dir' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'missing.py'), '--output-dir', str(tmp_path)])
    assert 'config file not found' in capsys.readouterr().err
