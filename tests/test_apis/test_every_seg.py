"""Every [SEG] of an answer gives its mask, in answer order, through the model's predict,
DeSa2VAInferencer (call, saved predictions) and chat: a scripted LM head answers
"[SEG] and [SEG]" on the tiny model."""
import json
import warnings

import numpy as np
import pytest
import torch

from conftest import load_tiny_cfg

TINY = 'configs/sa2va/sa2va_tiny.py'
ANSWER = '[SEG] and [SEG]'


@pytest.fixture(scope='module')
def scripted():
    """The tiny inferencer answering :data:`ANSWER` then EOS to every prompt, and a record
    of what each generation and seg-head decode returned."""
    from desa2va_mm.apis import DeSa2VAInferencer
    from tools.analysis_tools.benchmark_inference import ScriptedAnswerHead, _reset_before
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "checkpoint is not loaded": random on purpose
        inf = DeSa2VAInferencer(load_tiny_cfg(config=TINY), None, device='cpu',
                                show_progress=False)
    mllm = inf.model.mllm
    script = mllm.tokenizer.encode(ANSWER, add_special_tokens=False) + \
        [mllm.tokenizer.eos_token_id]
    assert script.count(mllm.seg_token_id) == 2, script
    lm = mllm.model
    head = ScriptedAnswerHead(lm.lm_head.in_features, lm.lm_head.out_features, script)
    lm.lm_head = head
    mllm.generate = _reset_before(mllm.generate, head)
    record = {}
    decode = inf.model.seg_head.decode

    def spy(grounding, image_feats, hidden, image_idx):
        result = decode(grounding, image_feats, hidden, image_idx)
        record.update(hidden=hidden.detach().clone(), result=result)
        return result
    inf.model.seg_head.decode = spy
    return inf, record


def _image(size):
    import cv2

    from desa2va_mm.synthetic import generate_image
    return cv2.resize(generate_image(0, 3, 128).image, size)


def _expected(inf, record, size):
    """The masks and scores of the decoded [SEG] rows, in the order they were decoded."""
    result = record['result']
    masks = inf.model._masks_at(result.final_logits, size).cpu().numpy()
    return masks, result.iou_pred.float().reshape(-1).cpu().numpy()


def test_two_segs_give_two_masks_in_order_through_the_inferencer(scripted, tmp_path):
    inf, record = scripted
    out = inf(_image((150, 100)), texts=['the red circle'], out_dir=str(tmp_path),
              no_save_vis=True, no_save_pred=False)
    pred = out['predictions'][0]
    assert pred['answers'][0].count('[SEG]') == 2
    assert len(record['hidden']) == 2  # both [SEG] states decoded, in one call
    masks, scores = _expected(inf, record, (100, 150))
    assert scores[0] != scores[1]  # the two [SEG] states differ: order is observable
    assert len(pred['seg_masks']) == 1 and pred['seg_masks'][0].shape == (2, 100, 150)
    assert np.array_equal(pred['seg_masks'][0], masks)
    np.testing.assert_allclose(pred['seg_scores'][0], scores, rtol=1e-6)
    # The per-text outputs stay the first [SEG]'s (what the referring metrics score).
    assert np.array_equal(pred['masks'][0], masks[0])
    assert pred['scores'][0] == pytest.approx(float(scores[0]), rel=1e-6)
    # The saved predictions hold both, in order.
    from pycocotools import mask as mask_utils
    saved = json.loads(next((tmp_path / 'preds').glob('*.json')).read_text())
    assert len(saved['seg_masks']) == 1 and len(saved['seg_masks'][0]) == 2
    for k, rle in enumerate(saved['seg_masks'][0]):
        rle = dict(size=rle['size'], counts=rle['counts'].encode())
        assert np.array_equal(mask_utils.decode(rle).astype(bool), masks[k])
    np.testing.assert_allclose(saved['seg_scores'][0], scores, rtol=1e-6)


def test_the_overlay_draws_every_seg_of_an_answer(scripted, monkeypatch):
    """The overlay row of a two-[SEG] answer shows the union of both masks."""
    inf, record = scripted
    drawn = {}

    def fake_render(image, texts, gt, masks, answers, scores):
        drawn['masks'] = masks
        return image
    monkeypatch.setattr(inf.visualizer, 'render', fake_render)
    inf(_image((150, 100)), texts=['the red circle'], return_vis=True, no_save_vis=True)
    masks, _ = _expected(inf, record, (100, 150))
    assert not np.array_equal(masks[0] | masks[1], masks[0])  # the second mask adds pixels
    assert np.array_equal(drawn['masks'][0], masks[0] | masks[1])


def test_two_texts_keep_their_own_masks_in_order(scripted):
    inf, record = scripted
    pred = inf(_image((128, 128)), texts=['the red circle', 'the blue star'])['predictions'][0]
    masks, scores = _expected(inf, record, (128, 128))
    # Decoded rows: text 0's two [SEG]s, then text 1's.
    assert [m.shape[0] for m in pred['seg_masks']] == [2, 2]
    assert np.array_equal(np.concatenate(pred['seg_masks']), masks)
    np.testing.assert_allclose(np.concatenate(pred['seg_scores']), scores, rtol=1e-6)


def test_chat_returns_every_mask_in_order(scripted):
    inf, record = scripted
    out = inf.chat(_image((140, 120)), 'Please segment the red circle and the star.')
    assert out['answer'].count('[SEG]') == 2
    masks, scores = _expected(inf, record, (120, 140))
    assert out['masks'].shape == (2, 120, 140) and out['masks'].dtype == bool
    assert np.array_equal(out['masks'], masks)
    np.testing.assert_allclose(out['scores'], scores, rtol=1e-6)
    assert np.array_equal(out['mask'], masks[0])
    assert out['score'] == pytest.approx(float(scores[0]), rel=1e-6)
