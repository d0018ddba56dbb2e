"""SAM2MemoryBank / SAM2VideoTracker without a model: the bank, the outputs and the
streaming loop (stand-in SAM-2 features and seg head, so every step is checkable)."""
from types import SimpleNamespace

import pytest
import torch

from desa2va_mm.models.grounding.sam2_video_tracker import (SAM2MemoryBank,
                                                            SAM2VideoTracker)


def test_bank_keeps_key_frames_and_a_window_of_tracked_frames():
    bank = SAM2MemoryBank(window=3)
    bank.add(0, {'obj_ptr': 0}, is_cond=True)
    for t in range(1, 10):
        bank.add(t, {'obj_ptr': t}, is_cond=t == 5)
        assert len(bank.non_cond) <= 3
    assert list(bank.cond) == [0, 5]
    assert list(bank.non_cond) == [7, 8, 9]
    assert len(bank) == 5
    with pytest.raises(ValueError):
        SAM2MemoryBank(window=0)


class _FakeSAM2:
    num_maskmem = 7
    memory_temporal_stride_for_eval = 1
    max_obj_ptrs_in_encoder = 16
    use_obj_ptrs_in_encoder = True


def test_required_window_matches_what_sam2_reads():
    sam2 = _FakeSAM2()
    tracker = SAM2VideoTracker().bind(SimpleNamespace(sam2=sam2))
    # Object pointers reach 15 frames back, spatial memories 6.
    assert tracker.required_window() == 15
    sam2.use_obj_ptrs_in_encoder = False
    assert tracker.required_window() == 6
    sam2.memory_temporal_stride_for_eval = 2
    # Stride r: the oldest memory is ((t-2)//r)*r - (num_maskmem-3)*r >= t - 1 - 5r.
    assert tracker.required_window() == 11
    assert tracker.new_bank().window == 11
    tracker.memory_window = 4
    assert tracker.new_bank().window == 4
    with pytest.raises(RuntimeError, match='bind'):
        SAM2VideoTracker().required_window()


def test_object_presence_and_no_object_logits():
    logits = torch.tensor([[-1.0, 2.0], [-3.0, -1.0]]).view(2, 1, 1, 2)
    scores = torch.tensor([-5.0, 4.0])
    by_mask = SAM2VideoTracker(object_score_source='mask')
    by_decoder = SAM2VideoTracker(object_score_source='decoder')
    sa2va = SAM2VideoTracker()
    assert by_mask.object_presence(logits, scores).tolist() == [True, False]
    assert by_decoder.object_presence(logits, scores).tolist() == [False, True]
    out = by_decoder.finalize_logits(logits, torch.tensor([False, True]))
    assert (out[0] == -1024.0).all() and torch.equal(out[1], logits[1])
    # Output / memory logits: SAM-2's hard choice with a source, raw in the Sa2VA mode
    # (whose presence, read from the decoder, only gates the object pointer).
    present = by_decoder.object_presence(logits, scores)
    assert torch.equal(by_decoder.output_logits(logits, present), out)
    assert sa2va.object_presence(logits, scores).tolist() == [False, True]
    assert sa2va.output_logits(logits, present) is logits
    with pytest.raises(ValueError, match=r"object_score_source must be one of \('none', "
                       r"'decoder', 'mask'\), got 'iou'"):
        SAM2VideoTracker(object_score_source='iou')


def test_defaults_are_the_sa2va_mode():
    tracker = SAM2VideoTracker()
    assert tracker.is_sa2va_mode and not tracker.hard_object_choice
    assert (tracker.track_with_seg_prompt, tracker.object_score_source) == (False, 'none')
    assert 'Sa2VA mode' in repr(tracker)
    for kwargs in (dict(track_with_seg_prompt=True), dict(object_score_source='decoder')):
        other = SAM2VideoTracker(**kwargs)
        assert not other.is_sa2va_mode and 'Sa2VA' not in repr(other)
    with pytest.raises(TypeError):
        SAM2VideoTracker(False)  # keyword-only


class _Tracker(SAM2VideoTracker):
    """SAM-2's feature / memory steps replaced by records of what the loop asked for."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bind(SimpleNamespace(sam2=_FakeSAM2()))
        self.calls = []

    def encode_frames(self, images):
        self.calls.append(('encode', float(images.flatten()[0])))
        return dict(frame=images)

    @staticmethod
    def select(frame_feats, frame, num):
        return dict(frame=frame_feats['frame'], num=num)

    def unconditioned(self, feats):
        return dict(value=feats['frame'].flatten()[0], memory=None)

    def memory_conditioned(self, frame_idx, feats, bank, num_frames=None):
        self.calls.append(('memory', frame_idx, sorted(bank.cond), sorted(bank.non_cond),
                           num_frames))
        return dict(value=feats['frame'].flatten()[0], memory=len(bank))

    def memory_entry(self, feats, low_res_logits, result, present, detach=True):
        return dict(logits=low_res_logits, detach=detach)


class _SegHead:
    """Key frames decode to value + 1, tracked frames to -(value + 100) (E rows)."""

    def __init__(self, expect_prompt=True):
        self.expect_prompt = expect_prompt

    def tracking_prompt(self, seg_hidden):
        return seg_hidden * 2

    def _result(self, value, num):
        from desa2va_mm.models.seg_heads import SegDecodeResult
        logits = torch.full((num, 1, 2, 2), float(value))
        return SegDecodeResult(final_logits=logits, iou_pred=torch.full((num, ), 0.5),
                               object_score_logits=torch.ones(num),
                               mask_tokens=torch.zeros(num, 1, 4), multi_iou=torch.zeros(num, 1))

    def decode(self, grounding, image_feats, seg_hidden, image_idx):
        assert image_idx.tolist() == [0] * len(seg_hidden)  # one frame, E objects
        return self._result(image_feats['value'] + 1, len(seg_hidden))

    def decode_tracked(self, grounding, image_feats, track_prompt, image_idx, with_prompt=True):
        assert torch.equal(track_prompt, torch.full((2, 3), 2.0))
        assert with_prompt is self.expect_prompt
        return self._result(-(image_feats['value'] + 100), len(track_prompt))


def _frames(num):
    return [SimpleNamespace(image=torch.full((1, 3, 4, 4), float(i))) for i in range(num)]


def test_streaming_loop_decodes_key_frames_and_tracks_the_rest_through_a_bounded_bank():
    tracker = _Tracker(track_with_seg_prompt=True, object_score_source='mask',
                       memory_window=2)
    out = list(tracker.track(iter(_frames(6)), _SegHead(), torch.ones(2, 3), [0, 3],
                             num_frames=6))
    assert [f.frame_idx for f in out] == list(range(6))
    assert [f.is_key_frame for f in out] == [True, False, False, True, False, False]
    # Key frames: the seg head's decode; tracked: its tracking decoder on memory features.
    assert [float(f.logits[0, 0, 0, 0]) for f in out if f.is_key_frame] == [1.0, 4.0]
    # Tracked logits are all negative: the object is absent (presence from the mask) and
    # its logits become SAM-2's NO_OBJ_SCORE, for memory and output alike.
    assert all((f.logits == -1024.0).all() for f in out if not f.is_key_frame)
    assert out[0].logits.shape == (2, 1, 2, 2) and out[1].iou_pred.tolist() == [0.5, 0.5]
    memory = [c for c in tracker.calls if c[0] == 'memory']
    # Frame t reads every key frame so far and the tracked frames of the last 2 frames.
    assert memory == [('memory', 1, [0], [], 6), ('memory', 2, [0], [1], 6),
                      ('memory', 4, [0, 3], [2], 6), ('memory', 5, [0, 3], [4], 6)]
    bank = tracker.memory_bank
    assert sorted(bank.cond) == [0, 3] and sorted(bank.non_cond) == [4, 5]
    assert all(entry['detach'] for entry in bank.cond.values())


def test_stream_starts_with_a_key_frame_and_pulls_frames_lazily():
    tracker = _Tracker()
    pulled = []

    def frames():
        for frame in _frames(3):
            pulled.append(frame)
            yield frame

    stream = tracker.track(frames(), _SegHead(expect_prompt=False), torch.ones(2, 3),
                           key_frame_ids=[2])
    first = next(stream)
    # SAM-2 cannot track before a conditioning frame: frame 0 is decoded as a key frame.
    assert first.is_key_frame and len(pulled) == 1
    assert [f.is_key_frame for f in stream] == [False, True]
    # No expression: every frame is still yielded, none is encoded.
    tracker.calls.clear()
    empty = list(tracker.track(iter(_frames(2)), _SegHead(expect_prompt=False),
                               torch.zeros(0, 3), [0]))
    assert [f.logits.shape for f in empty] == [(0, 1, 1, 1)] * 2 and tracker.calls == []


def test_training_clip_keeps_memory_in_the_graph():
    tracker = _Tracker(track_with_seg_prompt=True, object_score_source='decoder')
    feats = dict(frame=torch.arange(3.0).view(3, 1, 1, 1).expand(3, 3, 4, 4))
    key, tracked = tracker.track_clip(_SegHead(), feats, [0, 1, 2], torch.ones(2, 3))
    assert len(key) == 2 and len(tracked) == 2
    # Raw logits for the loss (no NO_OBJ_SCORE); frame t < T - 1 written with detach=False.
    assert all((t == -100.0).all() for t in tracked)
    assert [m[1] for m in tracker.calls if m[0] == 'memory'] == [1, 2]


def test_sa2va_mode_tracks_without_prompt_and_keeps_raw_logits():
    tracker = _Tracker(memory_window=2)
    out = list(tracker.track(iter(_frames(4)), _SegHead(expect_prompt=False),
                             torch.ones(2, 3), [0], num_frames=4))
    # The tracked logits are negative everywhere, yet they are output and stored raw.
    assert [float(f.logits[0, 0, 0, 0]) for f in out] == [1.0, -101.0, -102.0, -103.0]
    stored = tracker.memory_bank.non_cond
    assert [float(stored[t]['logits'][0, 0, 0, 0]) for t in sorted(stored)] == [-102.0, -103.0]
    key, tracked = tracker.track_clip(_SegHead(expect_prompt=False), dict(
        frame=torch.arange(2.0).view(2, 1, 1, 1).expand(2, 3, 4, 4)), [0, 1], torch.ones(2, 3))
    assert len(tracked) == 1 and (tracked[0] == -100.0).all() and len(key) == 2
