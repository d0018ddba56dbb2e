"""SAM2VideoTracker against sam2's own SAM2VideoPredictor on a 6-frame video.

Same tiny SAM-2 weights (the tiny configs' grounding encoder), same input tensor, same
first-frame mask prompt (``add_new_mask`` vs a key frame prompted with the mask). The
predictor is configured like Sa2VA's (dynamic multimask fallback) or like sam2's stock
builder (also binarised prompted masks in memory); our tracker stores memories in
bfloat16 as the predictor does. The machinery is the benchmark's
(tools/analysis_tools/benchmark_tracker_vs_sam2.py).
"""
import pytest
import torch

from tools.analysis_tools.benchmark_tracker_vs_sam2 import (build_grounding,
                                                           build_mask_prompted_head,
                                                           build_predictor, compare,
                                                           init_predictor_state,
                                                           make_tracker, normalise,
                                                           synthetic_video, track_ours,
                                                           track_predictor,
                                                           write_jpeg_folder)

NUM_FRAMES = 6


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models: a second thread only adds OpenMP waits on a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

#: float32 rounding of the same operations in a different order (measured: <= 6e-7).
ATOL = 1e-5


def _run(tmp_path, postprocessing='sa2va', object_bias=0.0, seed=0, **tracker_settings):
    grounding = build_grounding('tiny', None, postprocessing, seed, object_bias)
    predictor = build_predictor('tiny', None, postprocessing,
                                state_dict=grounding.sam2.state_dict())
    head = build_mask_prompted_head(grounding)
    tracker = make_tracker('bfloat16', **tracker_settings)
    frames, mask = synthetic_video(NUM_FRAMES, grounding.image_size, 0)
    images = normalise(frames)
    ours = [o.logits for o in track_ours(grounding, head, tracker,
                                         (images[t:t + 1] for t in range(NUM_FRAMES)),
                                         mask, NUM_FRAMES)]
    state = init_predictor_state(predictor, write_jpeg_folder(frames, str(tmp_path)),
                                 images)
    theirs = [o.logits for o in track_predictor(predictor, state, mask)]
    return ours, theirs, mask


@pytest.mark.parametrize('postprocessing', ['sa2va', 'stock'])
def test_sa2va_mode_equals_the_predictor_where_the_object_is_present(tmp_path,
                                                                     postprocessing):
    # Object-score bias +10: SAM-2's decoder says "present" on every frame, so its -1024
    # overwrite (which Sa2VA's mode leaves out) never applies.
    ours, theirs, mask = _run(tmp_path, postprocessing, object_bias=10.0)
    assert len(ours) == len(theirs) == NUM_FRAMES
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape == (1, 1, 32, 32), t
        torch.testing.assert_close(a, b.float(), rtol=0, atol=ATOL, msg=f'frame {t}')
        assert (a > 0).sum() > 20, t  # real masks, not empty ones
    # Frame 0 is the prompt itself: +-10 logits of the mask, antialiased to 32 x 32.
    rows = compare(ours, theirs)
    assert [r['iou'] for r in rows] == [1.0] * NUM_FRAMES
    assert rows[0]['ours_fg'] == pytest.approx(mask.sum() / 16, rel=0.3)


def test_sa2va_mode_keeps_the_logits_sam2_overwrites(tmp_path):
    # Unshifted random weights: the decoder says "absent" (score just below 0) on every
    # tracked frame; the predictor outputs -1024 there, Sa2VA's mode the raw logits.
    ours, theirs, _ = _run(tmp_path)
    rows = compare(ours, theirs)
    assert [r['sam2_no_object'] for r in rows] == [False] + [True] * (NUM_FRAMES - 1)
    assert rows[0]['max_abs_diff'] == 0.0
    for t in range(1, NUM_FRAMES):
        assert (theirs[t] == -1024.0).all()
        assert ours[t].min() > -1024.0 and (ours[t] > 0).sum() > 20  # raw logits kept


def test_hard_object_choice_equals_the_predictor_everywhere(tmp_path):
    # object_score_source='decoder' (with prompt-free tracking) is stock SAM-2's rule. These
    # weights: "present" on the prompted frame, "absent" on the tracked ones (whose memory
    # then carries no_obj_ptr).
    ours, theirs, _ = _run(tmp_path, object_bias=-0.094, seed=1,
                           object_score_source='decoder')
    rows = compare(ours, theirs)
    assert [r['sam2_no_object'] for r in rows] == [False] + [True] * (NUM_FRAMES - 1)
    for t, (a, b) in enumerate(zip(ours, theirs)):
        torch.testing.assert_close(a, b.float(), rtol=0, atol=ATOL, msg=f'frame {t}')


def test_memory_dtype_setting():
    tracker = make_tracker('bfloat16')
    assert tracker.memory_dtype == 'bfloat16' and "memory_dtype='bfloat16'" in repr(tracker)
    with pytest.raises(ValueError, match=r"memory_dtype must be None or a torch floating "
                       r"dtype name such as 'bfloat16', got 'int8' \(set "
                       r'model.video_tracker.memory_dtype\)'):
        make_tracker('int8')
    with pytest.raises(ValueError, match="got 'float33'"):
        make_tracker('float33')


@pytest.fixture(scope='module')
def sides():
    """Both sides as the benchmark builds them (tiny, same weights); ``track`` and
    ``init_state`` start every run afresh, so the tests share them."""
    from tools.analysis_tools.benchmark_tracker_vs_sam2 import build_side
    ours = build_side('ours', 'tiny', None)
    return ours, build_side('sam2', 'tiny', None, state_dict=ours.grounding.sam2.state_dict())


def test_lockstep_timing_counts_the_predictors_frame_0_encoding_as_model_work(
        tmp_path, monkeypatch, sides):
    """init_state ends by encoding frame 0: that is model time, not frame loading."""
    import time

    from sam2.sam2_video_predictor import SAM2VideoPredictor

    from tools.analysis_tools.benchmark_tracker_vs_sam2 import lockstep_run
    ours, theirs = sides
    num, delay = 3, 0.5
    frames, mask = synthetic_video(num, ours.grounding.image_size, 0)
    folder = write_jpeg_folder(frames, str(tmp_path))
    encode = SAM2VideoPredictor._get_image_feature
    calls = []

    def slow_encode(self, state, frame_idx, batch_size):
        calls.append(frame_idx)
        if len(calls) == 1:  # the warm-up inside init_state
            time.sleep(delay)
        return encode(self, state, frame_idx, batch_size)
    monkeypatch.setattr(SAM2VideoPredictor, '_get_image_feature', slow_encode)
    out = lockstep_run(ours, theirs, folder, mask, num)
    assert calls[0] == 0 and len(calls) >= num
    assert out['sam2']['load_s'] < delay <= out['sam2']['model_s']
    assert '_get_image_feature' not in vars(theirs.predictor)  # the timer is removed after
    assert len(out['ours']['tracked_s']) == len(out['sam2']['tracked_s']) == num - 1


def test_lockstep_run_leaves_inference_mode_off(tmp_path, sides):
    """Both tracking streams are closed inside the run, so no generator left suspended in
    an inference_mode block can switch it on when the garbage collector closes it."""
    import gc

    from tools.analysis_tools.benchmark_tracker_vs_sam2 import lockstep_run
    ours, theirs = sides
    frames, mask = synthetic_video(3, ours.grounding.image_size, 0)
    lockstep_run(ours, theirs, write_jpeg_folder(frames, str(tmp_path)), mask,
                 2)  # 2 of 3 frames: both streams left unfinished
    gc.collect()
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
