"""SAM2MemoryBank / SAM2VideoTracker without a model."""
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
    # Object pointers reach 15 frames back, spatial memories 6.
    assert SAM2VideoTracker.required_window(sam2) == 15
    sam2.use_obj_ptrs_in_encoder = False
    assert SAM2VideoTracker.required_window(sam2) == 6
    sam2.memory_temporal_stride_for_eval = 2
    # Stride r: the oldest memory is ((t-2)//r)*r - (num_maskmem-3)*r >= t - 1 - 5r.
    assert SAM2VideoTracker.required_window(sam2) == 11


def test_object_presence_and_no_object_logits():
    logits = torch.tensor([[-1.0, 2.0], [-3.0, -1.0]]).view(2, 1, 1, 2)
    scores = torch.tensor([-5.0, 4.0])
    by_mask = SAM2VideoTracker(object_score_source='mask')
    by_decoder = SAM2VideoTracker(object_score_source='decoder')
    assert by_mask.object_presence(logits, scores).tolist() == [True, False]
    assert by_decoder.object_presence(logits, scores).tolist() == [False, True]
    out = by_decoder.finalize_logits(logits, torch.tensor([False, True]))
    assert (out[0] == -1024.0).all() and torch.equal(out[1], logits[1])
    with pytest.raises(ValueError, match='object_score_source'):
        SAM2VideoTracker(object_score_source='iou')
