"""Region (visual) prompts: region masks on the InternVL patch grid and their token counts.

A region prompt is a binary mask over the whole image (a box is its filled rectangle).
The MLLM reads it as the image-token features of the patch-grid cells the region covers
(docs/visual_prompts.md): the mask is resized to the ``g x g`` grid of one image tile
(``g = sqrt(num_image_tokens_per_tile)``, 16 for InternVL at 448 px), and each covered
cell gives one ``<IMG_CONTEXT>`` token between ``<vp>`` and ``</vp>``. The data pipeline
counts the tokens and the model selects the features with the same function,
:func:`region_grid_masks`, so the two always agree.

NumPy only, like the rest of :mod:`desa2va_mm.structures`.
"""
import math
from typing import List, Sequence, Tuple

import numpy as np

__all__ = ['REGION_PLACEHOLDER', 'grid_side', 'region_grid_masks', 'box_to_mask',
           'region_token_counts']

#: Where the region list goes in a user turn. ``TokenizeConversation`` expands it to
#: ``There are R part regions in the picture: region1<vp>k1 x <IMG_CONTEXT></vp>, ...``
#: (Sa2VA's wording), so questions can say ``region1``.
REGION_PLACEHOLDER = '<regions>'


def grid_side(num_image_tokens_per_tile: int) -> int:
    """Side ``g`` of the square patch grid of one tile (``g * g`` image tokens).

    Raises:
        ValueError: The token count is not a square.
    """
    side = int(round(math.sqrt(num_image_tokens_per_tile)))
    if side * side != num_image_tokens_per_tile or side < 1:
        raise ValueError(f'num_image_tokens_per_tile={num_image_tokens_per_tile} is not a '
                         'square grid; region prompts need g x g image tokens per tile')
    return side


def _nearest_index(out_size: int, in_size: int) -> np.ndarray:
    # torch's F.interpolate(mode='nearest'): source index floor(dst * in / out), which is
    # the resize Sa2VA applies to its region masks.
    return np.minimum((np.arange(out_size) * (in_size / out_size)).astype(np.int64),
                      in_size - 1)


def region_grid_masks(masks: np.ndarray, side: int) -> np.ndarray:
    """Region masks on the ``side x side`` patch grid.

    Nearest-neighbour resize, as Sa2VA does. A region too small to cover the sample point
    of any cell (it would get no token at all under Sa2VA's resize, and an empty
    ``<vp></vp>``) keeps the one cell it overlaps most, so every region has at least one
    token; an all-empty region mask is an error.

    Args:
        masks: (R, H, W) region masks over the whole image (any dtype, non-zero = inside).
        side: Grid side ``g``.

    Returns:
        (R, g, g) bool.

    Raises:
        ValueError: ``masks`` is not 3-D, or a region is empty.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f'region masks must be (R, H, W), got shape {masks.shape}')
    num, height, width = masks.shape
    inside = masks != 0
    rows, cols = _nearest_index(side, height), _nearest_index(side, width)
    grid = inside[:, rows][:, :, cols]
    for r in np.nonzero(~grid.reshape(num, -1).any(axis=1))[0]:
        if not inside[r].any():
            raise ValueError(f'region {r + 1} of {num} is empty (no pixel inside it); drop '
                             'it or give a mask / box with an area')
        # Area of the region inside each cell (cells are [i*H/g, (i+1)*H/g) bands).
        row_edges = np.linspace(0, height, side + 1).round().astype(np.int64)
        col_edges = np.linspace(0, width, side + 1).round().astype(np.int64)
        per_row = np.add.reduceat(inside[r], row_edges[:-1].clip(max=height - 1), axis=0)
        per_cell = np.add.reduceat(per_row, col_edges[:-1].clip(max=width - 1), axis=1)
        i, j = np.unravel_index(int(per_cell.argmax()), per_cell.shape)
        grid[r, i, j] = True
    return grid


def region_token_counts(masks: np.ndarray, side: int) -> List[int]:
    """Tokens each region takes: the cells it covers on the grid (>= 1 each)."""
    return [int(g.sum()) for g in region_grid_masks(masks, side)]


def box_to_mask(box: Sequence[float], shape: Tuple[int, int]) -> np.ndarray:
    """An ``(x1, y1, x2, y2)`` pixel box -> (H, W) bool mask (the pixels whose centres are
    inside; at least the pixel holding the box centre).

    Raises:
        ValueError: Not four numbers, ``x2 <= x1`` / ``y2 <= y1``, or a box outside the
            image.
    """
    if len(box) != 4:
        raise ValueError(f'a box is x1,y1,x2,y2 (4 numbers), got {list(box)}')
    x1, y1, x2, y2 = (float(v) for v in box)
    height, width = shape
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f'box {list(box)}: x2 must exceed x1 and y2 exceed y1')
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise ValueError(f'box {list(box)} lies outside the {width}x{height} image')
    ys, xs = np.arange(height) + 0.5, np.arange(width) + 0.5
    mask = ((ys >= y1) & (ys <= y2))[:, None] & ((xs >= x1) & (xs <= x2))[None, :]
    if not mask.any():
        cy = min(max(int((y1 + y2) / 2), 0), height - 1)
        cx = min(max(int((x1 + x2) / 2), 0), width - 1)
        mask[cy, cx] = True
    return mask
