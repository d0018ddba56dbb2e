"""Region prompts through DeSa2VAInferencer (tiny region-prompt model): images, chat,
video, the <vp> tokens the model reads, and errors naming the input and region."""
import warnings

import cv2
import numpy as np
import pytest
import torch

VP_CFG = 'configs/sa2va/sa2va_tiny_vp.py'


@pytest.fixture(scope='module')
def inferencer():
    from tools.analysis_tools.benchmark_inference import force_seg_answers

    from desa2va_mm.apis import DeSa2VAInferencer
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # random weights on purpose
        inf = DeSa2VAInferencer(VP_CFG, None, device='cpu', show_progress=False)
    force_seg_answers(inf.model)
    return inf


def _image(index=3):
    from desa2va_mm.synthetic import generate_image
    return generate_image(0, index, 128).image


def _spy(inferencer, monkeypatch):
    seen = []
    original = inferencer.model.mllm.embed

    def spy(input_ids, image_embeds, *args, **kwargs):
        seen.append((input_ids.clone(), None if image_embeds is None else image_embeds.clone()))
        return original(input_ids, image_embeds, *args, **kwargs)
    monkeypatch.setattr(inferencer.model.mllm, 'embed', spy)
    return seen


def test_image_regions_reach_the_vp_slots(inferencer, monkeypatch):
    seen = _spy(inferencer, monkeypatch)
    img = cv2.resize(_image(), (160, 120))
    box, mask = (0, 0, 80, 60), np.zeros((120, 160), bool)
    mask[90:, 120:] = True
    out = inferencer(img, texts='What is region2?', template=None, regions=[box, mask])
    pred = out['predictions'][0]
    assert pred['masks'].shape == (1, 120, 160)
    ids, feats = seen[0]
    mllm = inferencer.model.mllm
    tok = mllm.tokenizer
    text = tok.decode(ids[0])
    assert 'there are 2 part regions in the picture : region1' in text
    assert text.index('</img>') < text.index('<vp>') < text.rindex('what is region2')
    # A 4 x 4 grid: the box covers the top-left 2 x 2 cells, the mask the bottom-right one.
    num_ctx = int((ids == mllm.image_token_id).sum())
    assert num_ctx == 16 + 4 + 1 and feats.shape[0] == num_ctx
    tiles = inferencer.model.mllm.encode_images(
        inferencer.collate_fn([inferencer._run_pipeline(
            inferencer.pipeline, inferencer._image_results(img, 0, ['q']))])
        ['data_samples'][0].pixel_values)[0]
    torch.testing.assert_close(feats[16:20], tiles[[0, 1, 4, 5]])
    torch.testing.assert_close(feats[20], tiles[15])


def test_chat_with_regions_keeps_the_region_list_in_the_first_turn(inferencer, monkeypatch):
    seen = _spy(inferencer, monkeypatch)
    img = _image()
    first = inferencer.chat(img, 'What is region1?', regions=[(10, 10, 60, 60)])
    second = inferencer.chat(img, 'Please segment the object like region1.',
                             history=first['history'], regions=[(10, 10, 60, 60)])
    assert second['mask'].shape == (128, 128)
    vp = inferencer.model.mllm.vp_start_id
    assert [int((ids == vp).sum()) for ids, _ in seen] == [1, 1]
    with pytest.raises(ValueError, match=r'input 0: region1: box \[.*\] lies outside'):
        inferencer.chat(img, 'What is region1?', regions=[(500, 500, 600, 600)])
    with pytest.raises(ValueError, match='input 0: region2: mask of size 4x4'):
        inferencer.chat(img, 'What is region1?', regions=[(0, 0, 9, 9), np.ones((4, 4))])
    with pytest.raises(ValueError, match='regions: 3 lists of regions for 1 images'):
        inferencer([img], texts='x', regions=[[(0, 0, 9, 9)], [(0, 0, 9, 9)], []])


def test_video_regions_on_a_key_frame_are_tracked(inferencer, monkeypatch):
    seen = _spy(inferencer, monkeypatch)
    frames = [np.roll(_image(6), 3 * t, axis=1) for t in range(5)]
    out = inferencer.predict_video(frames, 'the object like region1', num_key_frames=2,
                                   regions=[(20, 20, 70, 70)], region_frame=1)
    assert out['masks'].shape == (1, 5, 128, 128) and out['key_frame_ids'] == [0, 1]
    ids, feats = seen[0]
    mllm = inferencer.model.mllm
    # Two key-frame tiles (16 tokens each) + the region's cells on the second one.
    cells = int((ids == mllm.image_token_id).sum()) - 32
    assert int((ids == mllm.vp_start_id).sum()) == 1 and cells >= 1
    with pytest.raises(ValueError, match=r'region_frame 3 is not a key frame .*\[0, 1\]'):
        inferencer.predict_video(frames, 'x', num_key_frames=2, regions=[(0, 0, 9, 9)],
                                 region_frame=3)
