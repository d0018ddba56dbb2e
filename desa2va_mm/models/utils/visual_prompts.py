"""Region (visual) prompt tokens: image-token features selected inside each region.

How a region reaches the LLM (docs/visual_prompts.md): the question holds
``region1<vp><IMG_CONTEXT> x k1</vp>, region2<vp>...</vp>`` after the image; each of the
``k_r`` slots of region ``r`` takes the feature of one patch-grid cell the region covers,
read from the image tokens of the region's tile (the thumbnail, the last tile, as Sa2VA
does; one tile per key frame in a video). The cells come from
:func:`desa2va_mm.structures.region_grid_masks`, the function the data pipeline counted
the slots with. The features are those the image tokens carry (vision tower + projector),
so gradients reach them through the region tokens too.
"""
from typing import List, Optional, Sequence

import torch

from desa2va_mm.structures import grid_side, region_grid_masks

__all__ = ['region_features', 'image_and_region_tokens']


def region_features(tile_embeds: torch.Tensor, prompt_masks: torch.Tensor) -> List[torch.Tensor]:
    """The image-token features inside each region.

    Args:
        tile_embeds: (n, C) image tokens of the region's tile, row-major on the g x g grid.
        prompt_masks: (R, H, W) bool region masks over the whole image.

    Returns:
        R tensors (k_r, C): the features of the cells region r covers, row-major.
    """
    side = grid_side(tile_embeds.shape[0])
    cells = torch.from_numpy(region_grid_masks(prompt_masks.detach().cpu().numpy(), side))
    cells = cells.flatten(1).to(tile_embeds.device)
    return [tile_embeds[cell] for cell in cells]


def image_and_region_tokens(image_embeds: torch.Tensor,
                            num_tiles: Sequence[int],
                            seq_image_idx: torch.Tensor,
                            input_ids: torch.Tensor,
                            attention_mask: torch.Tensor,
                            prompt_masks: Sequence[Optional[torch.Tensor]],
                            *,
                            image_token_id: int,
                            vp_start_id: int,
                            vp_end_id: int,
                            region_tile: Optional[Sequence[int]] = None,
                            sample_names: Optional[Sequence[str]] = None) -> torch.Tensor:
    """Features for every ``<IMG_CONTEXT>`` slot of a batch, image and region slots alike.

    A slot between ``<vp>`` and ``</vp>`` is a region slot: the ``r``-th ``<vp>`` span of a
    sequence holds region ``r`` of its sample; every other slot is an image slot, filled
    with the sample's tile tokens in order.

    Args:
        image_embeds: (T, n, C) image tokens of every tile of the batch.
        num_tiles: (B,) tiles per sample (split of ``image_embeds``).
        seq_image_idx: (M,) the sample of each sequence.
        input_ids: (M, L) token ids.
        attention_mask: (M, L) 1 for real tokens.
        prompt_masks: B entries, (R_b, H, W) bool region masks or None.
        image_token_id: Id of ``<IMG_CONTEXT>``.
        vp_start_id: Id of ``<vp>``.
        vp_end_id: Id of ``</vp>``.
        region_tile: Per sample, which of its tiles the regions are read from (default -1:
            the thumbnail, or the only tile).
        sample_names: B names for error messages (image paths).

    Returns:
        (K, C) features in the order the slots appear in ``input_ids`` (row-major), what
        ``InternVLMLLM.embed`` scatters.

    Raises:
        ValueError: A sequence's ``<vp>`` spans, their slot counts or its image slots do
            not match its sample's regions and tiles (the message names the sample).
    """
    per_sample = torch.split(image_embeds, list(num_tiles))
    names = list(sample_names) if sample_names is not None else [
        f'sample {b}' for b in range(len(per_sample))]
    regions = {}
    rows = []
    for m, b in enumerate(seq_image_idx.tolist()):
        ids = input_ids[m][attention_mask[m].bool()]
        is_start, is_end = ids == vp_start_id, ids == vp_end_id
        span = torch.cumsum(is_start.long(), 0)
        inside = span > torch.cumsum(is_end.long(), 0)
        slots = ids == image_token_id
        num_spans = int(is_start.sum())
        masks = prompt_masks[b] if b < len(prompt_masks) else None
        num_regions = 0 if masks is None else int(masks.shape[0])
        if num_spans != num_regions or int(is_end.sum()) != num_spans:
            raise ValueError(
                f'{names[b]}: {num_regions} region prompts (prompt_masks) but its sequence '
                f'has {num_spans} <vp> and {int(is_end.sum())} </vp> tokens; give one '
                'prompt mask per <vp>...</vp> (the region placeholder writes them)')
        tiles = per_sample[b].flatten(0, 1)
        image_slots = int((slots & ~inside).sum())
        if image_slots != tiles.shape[0]:
            raise ValueError(f'{names[b]}: {image_slots} image <IMG_CONTEXT> tokens outside '
                             f'<vp> spans but {tiles.shape[0]} image features '
                             f'({len(per_sample[b])} tiles)')
        if not num_regions:
            rows.append(tiles)
            continue
        if b not in regions:
            tile = -1 if region_tile is None else int(region_tile[b])
            regions[b] = region_features(per_sample[b][tile], masks)
        slot_span = span[slots]  # which region a slot belongs to (0: image)
        slot_inside = inside[slots]
        feats, order = [tiles], [torch.nonzero(~slot_inside)[:, 0]]
        for r, region in enumerate(regions[b]):
            where = torch.nonzero(slot_inside & (slot_span == r + 1))[:, 0]
            if len(where) != region.shape[0]:
                raise ValueError(
                    f'{names[b]}: region {r + 1} has {len(where)} <IMG_CONTEXT> tokens '
                    f'between <vp> and </vp> but covers {region.shape[0]} patch-grid '
                    'cells; the tokens must come from the same prompt mask and grid '
                    '(TokenizeConversation.num_image_tokens_per_tile)')
            feats.append(region)
            order.append(where)
        # Features listed image first, then region by region; put them in slot order.
        rows.append(torch.cat(feats)[torch.argsort(torch.cat(order))])
    return torch.cat(rows)
