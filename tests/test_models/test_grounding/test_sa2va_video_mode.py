"""SAM2VideoTracker's Sa2VA mode on the tiny Sa2VA baseline (real SAM-2 modules).

Sa2VA's video inference prompts the key frames only, propagates the other frames through
SAM-2's memory with no prompt, and never overwrites the logits with -1024. The decoders'
object-score bias is pushed to "absent" here, the case where SAM-2's hard choice (the
prompted mode) empties every frame, so the checks could not pass by chance.
"""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO_ROOT

NUM_FRAMES, KEYS = 5, [0, 2]


@pytest.fixture(scope='module')
def model():
    import desa2va_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/models/sa2va_tiny.py'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        m = MODELS.build(cfg.model).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # A fresh SAM-2 zero-initialises many weights: small noise exercises every path.
        for _, param in sorted(m.named_parameters()):
            param.add_(torch.randn(param.shape, generator=generator) * 0.02)
        m.seg_head.mask_head.decoder.pred_obj_score_head.layers[-1].bias.sub_(10.0)
    return m


def _frames(model):
    size = model.grounding_encoder.image_size
    g = torch.Generator().manual_seed(2)
    return [SimpleNamespace(image=torch.randn(1, 3, size, size, generator=g))
            for _ in range(NUM_FRAMES)]


def _seg_hidden(model, num=2):
    return torch.randn(num, model.mllm.hidden_size, generator=torch.Generator().manual_seed(3))


def _track(model, frames, seg_hidden, **settings):
    tracker = model.video_tracker
    saved = (tracker.track_with_seg_prompt, tracker.object_score_source)
    for key, value in settings.items():
        setattr(tracker, key, value)
    try:
        with torch.no_grad():
            return list(tracker.track(frames, model.seg_head, seg_hidden, KEYS,
                                      num_frames=len(frames)))
    finally:
        tracker.track_with_seg_prompt, tracker.object_score_source = saved


def test_config_builds_the_sa2va_mode(model):
    tracker = model.video_tracker
    assert tracker.is_sa2va_mode and tracker.grounding is model.grounding_encoder
    assert type(model.seg_head).__name__ == 'Sa2VASegHead'


def test_key_frames_equal_the_image_segmentation(model):
    frames, seg_hidden = _frames(model), _seg_hidden(model)
    grounding, head = model.grounding_encoder, model.seg_head
    with torch.no_grad():
        images = [head.decode(grounding, grounding.encode_image(frames[k].image), seg_hidden,
                              torch.zeros(2, dtype=torch.long)) for k in KEYS]
    assert all((r.object_score_logits < 0).all() for r in images)  # "absent" everywhere
    video = _track(model, frames, seg_hidden)
    for k, image in zip(KEYS, images):
        assert video[k].is_key_frame
        torch.testing.assert_close(video[k].logits, image.final_logits, rtol=0, atol=1e-5)
        assert (image.final_logits > 0).any()  # a real mask, not an empty one
    # The prompted mode's hard choice empties the same key frames: what the mode prevents.
    hard = _track(model, frames, seg_hidden, track_with_seg_prompt=True,
                  object_score_source='decoder')
    assert all((hard[k].logits == -1024.0).all() for k in KEYS)


def test_tracked_frames_reach_the_decoder_without_prompt_tokens(model):
    frames, seg_hidden = _frames(model), _seg_hidden(model)
    decoder = model.seg_head.mask_head
    seen = []
    original = decoder.forward

    def spy(image_feats, sparse_prompts, dense_prompts, image_idx, multimask_output=None):
        seen.append(sparse_prompts.detach().clone())
        return original(image_feats, sparse_prompts, dense_prompts, image_idx,
                        multimask_output)

    decoder.forward = spy
    try:
        _track(model, frames, seg_hidden)
        sa2va = list(seen)
        seen.clear()
        _track(model, frames, seg_hidden, track_with_seg_prompt=True)
        prompted = list(seen)
    finally:
        del decoder.forward
    assert len(sa2va) == NUM_FRAMES  # one decode per frame (the baseline has one decoder)
    padding = model.grounding_encoder.padding_prompts(2)
    prompt_token = model.seg_head.tracking_prompt(seg_hidden)
    for t, sparse in enumerate(sa2va):
        if t in KEYS:
            # [pad; pad; text_hidden_fcs(h)]: the [SEG] prompt enters on key frames.
            assert sparse.shape[1] == 3
            torch.testing.assert_close(sparse[:, 2], prompt_token)
        else:
            # SAM-2's two padding tokens only, as its predictor on a frame without clicks.
            torch.testing.assert_close(sparse, padding)
    # The prompted mode adds the token on tracked frames too.
    assert [s.shape[1] for s in prompted] == [3] * NUM_FRAMES


def test_no_logit_is_no_object_and_memory_gets_the_raw_mask(model):
    frames, seg_hidden = _frames(model), _seg_hidden(model)
    sam2 = model.grounding_encoder.sam2
    inputs = []
    original = sam2._encode_new_memory

    def spy(**kwargs):
        inputs.append({k: kwargs[k] for k in ('pred_masks_high_res', 'object_score_logits')})
        return original(**kwargs)

    sam2._encode_new_memory = spy
    try:
        out = _track(model, frames, seg_hidden)
    finally:
        del sam2._encode_new_memory
    logits = torch.stack([f.logits for f in out])
    assert not (logits <= -1024.0).any()
    assert all((f.logits > 0).any() for f in out)
    assert len(inputs) == NUM_FRAMES
    size = sam2.image_size
    for frame, given in zip(out, inputs):
        # The memory encoder reads the output logits upsampled (SAM-2's input), and no
        # spatial no-object embedding is asked for although the decoder says "absent".
        expected = F.interpolate(frame.logits, size=(size, size), mode='bilinear',
                                 align_corners=False)
        torch.testing.assert_close(given['pred_masks_high_res'], expected)
        assert (given['object_score_logits'] > 0).all()
    # The object pointer is gated by the decoder's object score, as in SAM-2's
    # _forward_sam_heads (fixed_no_obj_ptr): "absent" -> exactly no_obj_ptr.
    assert sam2.fixed_no_obj_ptr and not sam2.soft_no_obj_ptr
    bank = model.video_tracker.memory_bank
    for entry in list(bank.cond.values()) + list(bank.non_cond.values()):
        torch.testing.assert_close(entry['obj_ptr'], sam2.no_obj_ptr.expand(2, -1))
