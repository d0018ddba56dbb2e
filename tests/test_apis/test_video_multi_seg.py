"""Every [SEG] of a video answer is one tracked object: read_video_prompts returns all
[SEG] states, predict() writes one masklet per [SEG] (pred_object_rles), and the
inferencer returns them (seg_masks) and draws each in the overlay. The tiny video model
with its generation forced to answer "[SEG] [SEG]" to the first expression and nothing
with a [SEG] to the second."""
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

VIDEO_CONFIG = 'configs/desa2va_video/desa2va_tiny_video.py'


def _frames(num, h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(num)]


def force_two_segs(model):
    """Generation answers "[SEG] [SEG]" (two different states) to the first prompt and a
    plain word to the others; read_video_prompts itself runs unchanged."""
    g = torch.Generator().manual_seed(3)
    states = torch.randn(2, model.mllm.hidden_size, generator=g)
    seg = model.mllm.seg_token_id

    def generate(input_ids, attention_mask, image_embeds, max_new_tokens=None):
        n = input_ids.shape[0]
        answers = [[seg, seg]] + [[5] for _ in range(n - 1)]
        hidden = [states] + [states.new_zeros(0, states.shape[1]) for _ in range(n - 1)]
        return answers, hidden

    model.mllm.generate = generate
    return states


@pytest.fixture(scope='module')
def inferencer(tmp_path_factory):
    import warnings

    from mmengine.config import Config

    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, VIDEO_CONFIG))
    torch.manual_seed(0)
    ckpt = str(tmp_path_factory.mktemp('multi_seg') / 'model.pth')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict(), meta=dict()), ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        inf = DeSa2VAInferencer(cfg, ckpt, device='cpu', show_progress=False)
    inf.states = force_two_segs(inf.model)
    return inf


def test_read_video_prompts_returns_every_seg_state(inferencer):
    model = inferencer.model
    ids = torch.ones(2, 4, dtype=torch.long)
    tiles = torch.zeros(2, 3, 112, 112)
    answers, states = model.read_video_prompts(tiles, ids, torch.ones_like(ids))
    assert answers[0] == [model.mllm.seg_token_id] * 2
    assert states[0].shape == (2, model.mllm.hidden_size)
    torch.testing.assert_close(states[0], inferencer.states)
    assert states[1].shape == (0, model.mllm.hidden_size)


def test_each_seg_is_tracked_in_order_in_the_inferencer_and_overlay(inferencer, tmp_path,
                                                                   monkeypatch):
    from desa2va_mm.visualization import video_overlay
    drawn = []
    real = video_overlay.draw_masks

    def spy(frame, masks, texts, answers=None, **kw):
        drawn.append((masks.copy(), list(texts)))
        return real(frame, masks, texts, answers, **kw)

    monkeypatch.setattr(video_overlay, 'draw_masks', spy)
    frames = _frames(5)
    out = inferencer.predict_video(frames, ['the two circles', 'the star'],
                                   num_key_frames=2, out_dir=str(tmp_path))
    model = inferencer.model
    # The same objects straight through segment_video: both [SEG] states, in order.
    direct = list(model.segment_video(frames, inferencer.states, out['key_frame_ids'],
                                      num_frames=5))
    assert [m.shape for m in out['seg_masks']] == [(2, 5, 40, 56), (0, 5, 40, 56)]
    for t in range(5):
        np.testing.assert_array_equal(out['seg_masks'][0][:, t], direct[t]['masks'].numpy())
        np.testing.assert_allclose(out['seg_scores'][0][:, t], direct[t]['scores'].numpy())
    # `masks` keeps each answer's first [SEG]; no [SEG]: empty.
    np.testing.assert_array_equal(out['masks'][0], out['seg_masks'][0][0])
    assert not out['masks'][1].any() and not out['scores'][1].any()
    assert not np.array_equal(out['seg_masks'][0][0], out['seg_masks'][0][1])
    # The overlay draws both objects of the first answer, each with its label.
    assert len(drawn) == 5 and osp.isfile(out['out_file'])
    assert drawn[0][1] == ['the two circles [SEG 1]', 'the two circles [SEG 2]']
    np.testing.assert_array_equal(drawn[3][0], out['seg_masks'][0][:, 3])


def test_predict_writes_one_masklet_per_seg(inferencer):
    from pycocotools import mask as mask_utils
    data = inferencer._run_pipeline(
        inferencer._video_transforms(2, None),
        dict(video_id='v', video_source=_frames(5), img_path='v',
             frame_names=['%05d' % i for i in range(5)],
             expressions=[dict(exp_id='0', expression='the two circles'),
                          dict(exp_id='1', expression='the star')]))
    model = inferencer.model
    batch = model.data_preprocessor(inferencer.collate_fn([data]), False)
    (sample, ) = model(**batch, mode='predict')
    objects = sample.metainfo['pred_object_rles']
    assert [len(o) for o in objects] == [2, 0]
    direct = list(model.segment_video(_frames(5), inferencer.states, [0, 1], num_frames=5))
    for k in range(2):
        assert len(objects[0][k]) == 5
        for t in range(5):
            np.testing.assert_array_equal(mask_utils.decode(objects[0][k][t]).astype(bool),
                                          direct[t]['masks'][k].numpy())
    # The metrics' pred_rles: the first [SEG]'s masklet; an empty one without [SEG].
    assert sample.metainfo['pred_rles'][0] == objects[0][0]
    assert all(mask_utils.decode(r).sum() == 0 for r in sample.metainfo['pred_rles'][1])
