"""Region prompts in the data pipeline: LoadRegionPrompts and the <regions> placeholder of
TokenizeConversation (counts, placement, errors naming the sample)."""
import numpy as np
import pytest

from desa2va_mm.structures import REGION_PLACEHOLDER


def _tokenize():
    from desa2va_mm.datasets.transforms import TokenizeConversation
    return TokenizeConversation(
        tokenizer=dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco',
                       words=('part', 'regions', 'picture', 'region1', 'region2', '2')),
        template='qwen2', num_image_tokens_per_tile=16, max_length=256)


def test_load_region_prompts_from_rle_polygons_and_boxes():
    from desa2va_mm.datasets.transforms import LoadRegionPrompts
    from desa2va_mm.structures import encode_mask
    mask = np.zeros((8, 10), np.uint8)
    mask[2:4, 3:6] = 1
    out = LoadRegionPrompts()(dict(
        img_path='a.jpg', ori_shape=(8, 10),
        region_segmentations=[encode_mask(mask), [[0, 0, 4, 0, 4, 4, 0, 4]]],
        region_boxes=[(5, 5, 9, 7)]))
    masks = out['prompt_masks']
    assert masks.shape == (3, 8, 10) and masks.dtype == bool
    assert np.array_equal(masks[0], mask.astype(bool)) and masks[2].sum() == 4 * 2
    with pytest.raises(ValueError, match=r'a.jpg \(region 1\): RLE of size \[4, 4\]'):
        LoadRegionPrompts()(dict(img_path='a.jpg', ori_shape=(8, 10),
                                 region_segmentations=[encode_mask(np.ones((4, 4)))]))
    with pytest.raises(ValueError, match='a.jpg: region 1 is empty'):
        LoadRegionPrompts()(dict(img_path='a.jpg', ori_shape=(8, 10),
                                 region_segmentations=[encode_mask(np.zeros((8, 10)))]))
    with pytest.raises(ValueError, match=r'a.jpg \(region 1\): box .* outside'):
        LoadRegionPrompts()(dict(img_path='a.jpg', ori_shape=(8, 10),
                                 region_boxes=[(20, 20, 30, 30)]))


def test_placeholder_expands_to_one_vp_span_per_region():
    tok = _tokenize()
    masks = np.zeros((2, 32, 32), bool)
    masks[0, :16, :16] = True   # 4 cells of the 4 x 4 grid
    masks[1, 24:, :] = True     # the bottom row: 4 cells
    out = tok(dict(img_path='a.jpg', num_tiles=1, prompt_masks=masks, conversation=[
        dict(user=f'<image>\n{REGION_PLACEHOLDER}What is region2?', assistant='a star')]))
    ids = out['input_ids'][0]
    vocab = tok.tokenizer
    vp, end, ctx = vocab.convert_tokens_to_ids(['<vp>', '</vp>', '<IMG_CONTEXT>'])
    assert out['region_token_counts'] == [4, 4]
    assert int((ids == vp).sum()) == 2 and int((ids == end).sum()) == 2
    assert int((ids == ctx).sum()) == 16 + 8
    text = vocab.decode(ids)
    assert 'there are 2 part regions in the picture : region1 <vp>' in text
    assert text.index('</img>') < text.index('<vp>') < text.index('what is region2')


def test_placeholder_and_masks_must_come_together():
    tok = _tokenize()
    masks = np.ones((1, 8, 8), bool)
    turn = dict(user='<image>\nWhat is it?', assistant='a star')
    with pytest.raises(ValueError, match='a.jpg: 1 region prompts but the first question '
                       'has no <regions>'):
        tok(dict(img_path='a.jpg', num_tiles=1, prompt_masks=masks, conversation=[turn]))
    with pytest.raises(ValueError, match='a.jpg: <regions> in a question but the sample has '
                       'no prompt_masks'):
        tok(dict(img_path='a.jpg', num_tiles=1, conversation=[
            dict(user=f'<image>\n{REGION_PLACEHOLDER}What?', assistant='x')]))
    # Test prompts: one per sentence, each with the placeholder in its first turn.
    out = tok(dict(img_path='a.jpg', num_tiles=1, prompt_masks=masks, prompts=[
        [dict(user=f'<image>\n{REGION_PLACEHOLDER}What?', assistant=None)]] * 2))
    assert len(out['input_ids']) == 2
