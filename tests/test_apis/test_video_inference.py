"""The inferencer and tools/test.py segment a video through one path (tiny video config)."""
import json
import os.path as osp
import pickle
import warnings

import numpy as np
import pytest
import torch

from conftest import load_tiny_cfg

VIDEO_CONFIG = 'configs/desa2va_video/desa2va_tiny_video.py'


def force_seg_answers(model):
    """Random weights never emit [SEG]: make every generated token [SEG] so masks decode."""
    from tools.analysis_tools.benchmark_inference import force_seg_answers as force
    force(model)


@pytest.fixture(scope='module')
def video_setup(tmp_path_factory):
    """A one-video synthetic MeViS valid_u split (6 frames, 2 expressions), the tiny video
    config pointed at it and a checkpoint of random weights."""
    from desa2va_mm.registry import MODELS
    from desa2va_mm.synthetic import make_synthetic_mevis
    from desa2va_mm.utils import register_all_modules
    register_all_modules()
    tmp = tmp_path_factory.mktemp('video_inference')
    root = str(tmp / 'mevis')
    make_synthetic_mevis(root, num_videos=1, num_frames=6, seed=0, splits=(('valid_u', 1.0), ))
    # Two expressions of the video are enough (and keep the test fast).
    meta_file = osp.join(root, 'valid_u', 'meta_expressions.json')
    meta = json.load(open(meta_file))
    for video in meta['videos'].values():
        video['expressions'] = dict(list(video['expressions'].items())[:2])
    json.dump(meta, open(meta_file, 'w'))
    cfg = load_tiny_cfg(config=VIDEO_CONFIG)
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root + '/valid_u/'
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.work_dir = str(tmp / 'work')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return cfg, ckpt, root, tmp


def test_inferencer_masks_equal_tools_test_masks(video_setup):
    """tools/test.py's runner (data loader -> collate -> data preprocessor -> predict, its
    --out dump) and DeSa2VAInferencer.predict_video on the same video, config and
    checkpoint: the same answers and the same mask on every frame."""
    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.structures import decode_rle
    from tools.cli_utils import build_runner
    cfg, ckpt, root, tmp = video_setup
    cfg = cfg.copy()
    cfg.load_from = ckpt
    # What `tools/test.py CONFIG CKPT --out preds.pkl` runs (the metric left out: only the
    # predictions are compared).
    out_file = str(tmp / 'preds.pkl')
    cfg.test_evaluator = dict(type='AtomicDumpDetResults', out_file_path=out_file)
    runner, _ = build_runner(cfg, 'none')
    runner.load_or_resume()
    force_seg_answers(runner.model)  # after loading: the checkpoint holds the real LM head
    runner.test()
    (expected, ) = pickle.load(open(out_file, 'rb'))

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        inferencer = DeSa2VAInferencer(cfg, ckpt, device='cpu', show_progress=False)
    force_seg_answers(inferencer.model)
    video = osp.join(root, 'valid_u', 'JPEGImages', expected['video_id'])
    got = inferencer.predict_video(video, expected['expressions'])

    assert got['video_id'] == expected['video_id']
    assert got['frame_names'] == expected['frame_names'] and len(got['frame_names']) == 6
    assert got['key_frame_ids'] == expected['key_frame_ids'] == [0, 1, 2, 3, 4]
    assert got['answers'] == expected['pred_answers']
    assert len(expected['expressions']) == 2 and got['masks'].shape == (2, 6, 128, 128)
    for e, rles in enumerate(expected['pred_rles']):
        masks = np.stack([decode_rle(rle) for rle in rles]).astype(bool)
        np.testing.assert_array_equal(got['masks'][e], masks, err_msg=f'expression {e}')
    assert got['masks'].any(axis=(2, 3)).all()  # a mask on every frame: not a trivial match


def test_video_config_uses_its_own_video_pipeline(video_setup):
    """The config's video test pipeline without its annotation loading; its images fall
    back to Sa2VA's image pipeline derived from the model."""
    from desa2va_mm.apis import DeSa2VAInferencer
    cfg, ckpt, _, _ = video_setup
    inferencer = DeSa2VAInferencer(cfg, ckpt, device='cpu', show_progress=False)
    config_steps = [step['type'] for step in cfg.test_dataloader.dataset.pipeline]
    assert 'LoadVideoAnnotations' in config_steps
    assert [type(t).__name__ for t in inferencer.video_pipeline] == [
        s for s in config_steps if s != 'LoadVideoAnnotations']
    assert [type(t).__name__ for t in inferencer.pipeline] == [
        'InternVLTiling', 'DirectResize', 'BuildReferringConversation', 'TokenizeConversation',
        'PackReferringInputs']
    image = np.full((96, 80, 3), 100, np.uint8)
    pred = inferencer(image, texts=['the red circle'])['predictions'][0]
    assert pred['masks'].shape == (1, 96, 80)
