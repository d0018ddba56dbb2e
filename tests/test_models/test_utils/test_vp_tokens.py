"""Region (visual) prompt tokens: grid cells, slot placement, gradients, errors."""
import numpy as np
import pytest
import torch

from desa2va_mm.models.utils import image_and_region_tokens, region_features
from desa2va_mm.structures import box_to_mask, region_grid_masks, region_token_counts

IMG, VP, VP_END, TXT = 9, 7, 8, 1


def _masks():
    masks = np.zeros((2, 32, 32), bool)
    masks[0, :16, :16] = True          # top-left quarter: 2x2 cells of a 4x4 grid
    masks[1, 30:, 30:] = True          # a 2x2-pixel corner: no sample point, one cell kept
    return masks


def test_grid_masks_follow_nearest_resize_and_keep_small_regions():
    grid = region_grid_masks(_masks(), 4)
    assert grid.shape == (2, 4, 4)
    assert grid[0].sum() == 4 and grid[0, :2, :2].all()
    # The tiny region covers no sample point (rows/cols 0, 8, 16, 24): its best cell kept.
    assert grid[1].sum() == 1 and grid[1, 3, 3]
    assert region_token_counts(_masks(), 4) == [4, 1]
    with pytest.raises(ValueError, match='region 1 of 1 is empty'):
        region_grid_masks(np.zeros((1, 8, 8), bool), 4)


def test_box_to_mask():
    mask = box_to_mask((2, 1, 6, 3), (5, 8))
    assert mask.sum() == 4 * 2 and mask[1:3, 2:6].all()
    assert box_to_mask((3.2, 3.2, 3.4, 3.4), (8, 8)).sum() == 1
    with pytest.raises(ValueError, match='x2 must exceed x1'):
        box_to_mask((5, 1, 2, 3), (8, 8))
    with pytest.raises(ValueError, match='outside'):
        box_to_mask((20, 20, 30, 30), (8, 8))


def _sequence(counts, num_image=16):
    ids = [TXT] + [IMG] * num_image + [TXT]
    for k in counts:
        ids += [TXT, VP] + [IMG] * k + [VP_END]
    return torch.tensor(ids + [TXT])


def _call(embeds, ids, masks, names=None):
    return image_and_region_tokens(
        embeds, [1], torch.zeros(1, dtype=torch.long), ids[None], torch.ones_like(ids)[None],
        [None if masks is None else torch.from_numpy(masks)], image_token_id=IMG,
        vp_start_id=VP, vp_end_id=VP_END, sample_names=names)


def test_region_tokens_are_the_covered_cells_at_the_vp_slots():
    embeds = torch.arange(16 * 3, dtype=torch.float32).view(1, 16, 3)
    ids = _sequence([4, 1])
    out = _call(embeds, ids, _masks())
    assert out.shape == (16 + 4 + 1, 3)
    torch.testing.assert_close(out[:16], embeds[0])                # image slots first
    torch.testing.assert_close(out[16:20], embeds[0, [0, 1, 4, 5]])  # region 1 cells
    torch.testing.assert_close(out[20], embeds[0, 15])              # region 2 cell
    parts = region_features(embeds[0], torch.from_numpy(_masks()))
    assert [p.shape[0] for p in parts] == [4, 1]


def test_gradient_reaches_the_vision_features_through_region_tokens():
    embeds = torch.randn(1, 16, 3, requires_grad=True)
    ids = _sequence([4, 1])
    out = _call(embeds, ids, _masks())
    out[16:].sum().backward()  # only the region slots
    grad = embeds.grad[0].abs().sum(-1)
    assert set(torch.nonzero(grad)[:, 0].tolist()) == {0, 1, 4, 5, 15}


def test_mismatches_name_the_sample():
    embeds = torch.randn(1, 16, 3)
    with pytest.raises(ValueError, match=r'img/a.jpg: 2 region prompts .* 1 <vp>'):
        _call(embeds, _sequence([4]), _masks(), names=['img/a.jpg'])
    with pytest.raises(ValueError, match=r'img/a.jpg: region 1 has 3 <IMG_CONTEXT>'):
        _call(embeds, _sequence([3, 1]), _masks(), names=['img/a.jpg'])
    with pytest.raises(ValueError, match=r'sample 0: 0 region prompts .* 1 <vp>'):
        _call(embeds, _sequence([4]), None)
