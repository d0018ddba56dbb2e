"""Each benchmark makes the small data it reads itself (a fresh clone has no data/).

One test per data-making function: what it writes is what the benchmark then reads.
"""
import os
import os.path as osp

import numpy as np
import pytest

from conftest import REPO_ROOT


def test_benchmark_step_generates_refcoco_when_the_root_is_missing(tmp_path, capsys):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS
    from tools.analysis_tools.benchmark_step import (MODELS_TIMED, REFCOCO_FILES,
                                                     ensure_synthetic_refcoco)
    missing = str(tmp_path / 'no_such_root')
    root = ensure_synthetic_refcoco(missing, num_images=8, tmp_dir=str(tmp_path / 'gen'))
    assert root == str(tmp_path / 'gen')
    out = capsys.readouterr().out
    assert f'{missing} has no synthetic RefCOCO (refcoco/refs(unc).p missing): generating ' \
           f'8 images into {root}' in out
    for name in REFCOCO_FILES:
        assert osp.isfile(osp.join(root, name)), name
    # The timed configs' training set reads it (what the benchmark batches).
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO_ROOT, MODELS_TIMED[0][1]))
    cfg.train_dataloader.dataset.data_root = root + '/'
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) > 0
    sample = dataset[0]
    assert tuple(sample['inputs'].shape[-2:]) == (128, 128)
    # A root that has the data is used as it is, nothing generated.
    capsys.readouterr()
    assert ensure_synthetic_refcoco(root) == root
    assert 'generating' not in capsys.readouterr().out


def test_tracker_benchmark_frames_round_trip_through_the_jpeg_folder(tmp_path):
    import torch
    from sam2.utils.misc import load_video_frames

    from tools.analysis_tools.benchmark_tracker_vs_sam2 import (normalise, read_jpeg_folder,
                                                               synthetic_video,
                                                               write_jpeg_folder)
    frames, mask = synthetic_video(5, 64, seed=0)
    assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.uint8
    assert mask.shape == (64, 64) and mask.sum() == 16 * 16
    # The prompt mask covers the red square of frame 0.
    assert (frames[0][mask] == (230, 40, 40)).all()
    assert not (frames[1] == frames[0]).all()  # the video moves
    folder = write_jpeg_folder(frames, str(tmp_path / 'video'))
    assert sorted(os.listdir(folder)) == [f'{t:05d}.jpg' for t in range(5)]
    # Our stream reads the frames back (JPEG: close, not identical) ...
    read = np.stack(list(read_jpeg_folder(folder)))
    assert read.shape == frames.shape
    assert np.abs(read.astype(int) - frames.astype(int)).mean() < 4
    # ... and sam2's init_state loader reads the same pixels, normalised as we do.
    images, height, width = load_video_frames(folder, 64, offload_video_to_cpu=True,
                                              compute_device=torch.device('cpu'))
    assert (height, width) == (64, 64) and images.shape == (5, 3, 64, 64)
    torch.testing.assert_close(normalise(read), images, rtol=0, atol=1e-5)


def test_benchmark_data_writes_coco_sized_refcoco(tmp_path):
    import json

    import cv2

    from desa2va_mm.structures import decode_rle
    from tools.analysis_tools.benchmark_data import write_coco_like_refcoco
    root = str(tmp_path / 'refcoco')
    write_coco_like_refcoco(root, num_images=2)
    instances = json.load(open(osp.join(root, 'refcoco', 'instances.json')))
    assert len(instances['images']) == 2
    for image in instances['images']:
        assert image['width'] == 640 and image['height'] == 480
        img = cv2.imread(osp.join(root, 'train2014', image['file_name']))
        assert img.shape == (480, 640, 3)
    rle = next(a['segmentation'] for a in instances['annotations']
               if isinstance(a['segmentation'], dict))
    assert decode_rle(rle).shape == (480, 640)
    assert osp.isfile(osp.join(root, 'refcoco', 'refs(unc).p'))


def test_benchmark_metrics_clip_has_the_documented_edge_cases():
    from tools.analysis_tools.benchmark_metrics import make_clip
    gt, pred = make_clip(np.random.default_rng(0), 48, 64, 9, (0.1, 0.3))
    assert gt.shape == pred.shape == (9, 48, 64) and gt.dtype == pred.dtype == bool
    assert not pred[0].any()  # an empty prediction
    assert not gt[-1].any()  # an expression absent from a frame
    assert gt[1:-1].any(axis=(1, 2)).all()


@pytest.mark.parametrize('script', sorted(
    f for f in os.listdir(osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
    if f.startswith('benchmark_') and f.endswith('.py')))
def test_no_benchmark_reads_a_data_folder_it_does_not_make(script):
    # A default path under data/ must come with generation when it is missing
    # (benchmark_step's ensure_synthetic_refcoco); the others write temp dirs or memory.
    text = open(osp.join(REPO_ROOT, 'tools', 'analysis_tools', script)).read()
    if "'data/" in text or '"data/' in text:
        assert 'ensure_synthetic_refcoco' in text, script
