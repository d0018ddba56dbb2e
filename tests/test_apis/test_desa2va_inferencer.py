"""DeSa2VAInferencer on the tiny model: images, expressions, batching, chat, video, errors."""
import json
import os
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
import torch

from conftest import load_tiny_cfg

TINY = 'configs/sa2va/sa2va_tiny.py'


def force_seg_answers(model):
    """Random weights never emit [SEG]: make every generated token [SEG] so masks decode."""
    from tools.analysis_tools.benchmark_inference import force_seg_answers as force
    force(model)


@pytest.fixture(scope='module')
def inferencer():
    from desa2va_mm.apis import DeSa2VAInferencer
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "checkpoint is not loaded": random on purpose
        inf = DeSa2VAInferencer(load_tiny_cfg(config=TINY), None, device='cpu', show_progress=False)
    force_seg_answers(inf.model)
    return inf


def _image(index, size=None):
    from desa2va_mm.synthetic import generate_image
    img = generate_image(0, index, 128).image
    return cv2.resize(img, size) if size is not None else img


def test_single_image_masks_at_original_resolution(inferencer):
    img = _image(0, (150, 100))  # (w, h): neither square nor the model's 128 px
    out = inferencer(img, texts='the red circle')
    pred = out['predictions'][0]
    assert pred['masks'].shape == (1, 100, 150) and pred['masks'].dtype == bool
    assert pred['texts'] == ['the red circle']
    assert len(pred['answers']) == 1 and '[SEG]' in pred['answers'][0]
    assert len(pred['scores']) == 1 and 0 <= pred['scores'][0] <= 1
    assert out['visualization'] is None


def test_several_expressions_share_one_encoding_and_match_one_by_one(inferencer, monkeypatch):
    texts = ['the red circle', 'the leftmost shape', 'the large blue square']
    img = _image(1)
    calls = {'sam2': [], 'vit': [], 'generate': []}
    model = inferencer.model
    for key, owner, name in (('sam2', model.grounding_encoder, 'encode_image'),
                             ('vit', model.mllm, 'encode_images'),
                             ('generate', model.mllm, 'generate')):
        original = getattr(owner, name)

        def spy(x, *args, _key=key, _original=original, **kwargs):
            calls[_key].append(tuple(x.shape))
            return _original(x, *args, **kwargs)
        monkeypatch.setattr(owner, name, spy)
    together = inferencer(img, texts=texts)['predictions'][0]
    # One SAM-2 encoding, one vision-tower pass, one generation of 3 sequences.
    assert calls['sam2'] == [(1, 3, 128, 128)]
    assert calls['vit'] == [(1, 3, 112, 112)]
    assert len(calls['generate']) == 1 and calls['generate'][0][0] == 3
    monkeypatch.undo()
    alone = [inferencer(img, texts=[t])['predictions'][0] for t in texts]
    assert together['masks'].shape == (3, 128, 128)
    assert np.array_equal(together['masks'], np.concatenate([a['masks'] for a in alone]))
    assert together['answers'] == [a['answers'][0] for a in alone]
    np.testing.assert_allclose(together['scores'], [a['scores'][0] for a in alone], atol=1e-5)
    # Different sentences give different masks (the [SEG] state reads the sentence).
    assert not np.array_equal(together['masks'][0], together['masks'][1]) or \
        not np.array_equal(together['masks'][1], together['masks'][2])


def test_several_images_batched_match_single(inferencer):
    images = [_image(2), _image(3, (96, 160)), _image(4)]
    texts = [['the red circle'], ['the star', 'the green hexagon'], ['the smallest shape']]
    batched = inferencer(images, texts=texts, batch_size=3)['predictions']
    single = [inferencer(img, texts=t)['predictions'][0] for img, t in zip(images, texts)]
    assert [p['masks'].shape for p in batched] == [(1, 128, 128), (2, 160, 96), (1, 128, 128)]
    for b, s in zip(batched, single):
        assert np.array_equal(b['masks'], s['masks'])
        assert b['answers'] == s['answers']


def test_folder_input_writes_overlays_and_rle_predictions(inferencer, tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f'img{i}.png'), _image(i))
    (folder / 'notes.txt').write_text('not an image')  # ignored: not an image extension
    out_dir = tmp_path / 'out'
    out = inferencer(str(folder), texts=['the red circle', 'the star'], out_dir=str(out_dir),
                     no_save_pred=False, return_vis=True)
    assert [osp.basename(p['img_path']) for p in out['predictions']] == ['img0.png', 'img1.png']
    assert sorted(os.listdir(out_dir / 'vis')) == ['img0.png', 'img1.png']
    vis = cv2.imread(str(out_dir / 'vis' / 'img0.png'))
    assert vis.shape[:2] == out['visualization'][0].shape[:2]
    from pycocotools import mask as mask_utils
    record = json.load(open(out_dir / 'preds' / 'img1.json'))
    assert record['texts'] == ['the red circle', 'the star']
    for rle, mask in zip(record['masks'], out['predictions'][1]['masks']):
        decoded = mask_utils.decode(dict(size=rle['size'], counts=rle['counts'].encode()))
        assert np.array_equal(decoded.astype(bool), mask)


def test_question_template_and_verbatim_questions(inferencer, monkeypatch):
    seen = []
    original = inferencer.model.mllm.generate

    def spy(input_ids, *args, **kwargs):
        seen.append(input_ids.clone())
        return original(input_ids, *args, **kwargs)
    monkeypatch.setattr(inferencer.model.mllm, 'generate', spy)
    tok = inferencer.model.mllm.tokenizer
    inferencer(_image(0), texts='the red circle')
    inferencer(_image(0), texts='what is the red circle', template=None)
    templated = tok.decode(seen[0][0][seen[0][0] != tok.pad_token_id])
    verbatim = tok.decode(seen[1][0][seen[1][0] != tok.pad_token_id])
    assert 'please segment the red circle in this image' in templated
    assert 'what is the red circle' in verbatim and 'segment' not in verbatim


def test_chat_keeps_history_in_the_prompt(inferencer, monkeypatch):
    seen = []
    original = inferencer.model.mllm.generate

    def spy(input_ids, *args, **kwargs):
        seen.append(input_ids.clone())
        return original(input_ids, *args, **kwargs)
    monkeypatch.setattr(inferencer.model.mllm, 'generate', spy)
    img = _image(5, (140, 120))
    first = inferencer.chat(img, 'Please segment the red circle.')
    assert first['mask'].shape == (120, 140) and '[SEG]' in first['answer']
    assert first['history'] == [dict(user='Please segment the red circle.',
                                     assistant=first['answer'])]
    second = inferencer.chat(img, 'What is the star?', history=first['history'],
                             return_vis=True)
    assert len(second['history']) == 2 and second['history'][0] == first['history'][0]
    assert second['visualization'].ndim == 3
    tok = inferencer.model.mllm.tokenizer
    prompt2 = seen[1][0].tolist()
    prompt1 = seen[0][0].tolist()
    # Turn 2's prompt = turn 1's prompt + turn 1's answer (with its [SEG]s) + turn 2.
    assert prompt2[:len(prompt1)] == prompt1
    seg = inferencer.model.mllm.seg_token_id
    assert prompt2.count(seg) == first['answer'].count('[SEG]')
    assert tok.decode(prompt2[len(prompt1):]).count('what is the star') == 1
    # The image appears once, in the first turn.
    assert prompt2.count(tok.convert_tokens_to_ids('<img>')) == 1
    with pytest.raises(ValueError, match='history turn 0'):
        inferencer.chat(img, 'x', history=[dict(user='a')])
    long_turn = dict(user=' '.join(['the red circle'] * 100), assistant='[SEG] .')
    with pytest.raises(ValueError, match='start a new one'):
        inferencer.chat(img, 'and the star?', history=[long_turn])


def test_bad_inputs_give_clear_errors(inferencer, tmp_path):
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG\r\n\x1a\n not really a png')
    with pytest.raises(ValueError, match='cannot read image .*broken.png'):
        inferencer(str(broken), texts='the red circle')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        inferencer(str(tmp_path / 'missing.png'), texts='the red circle')
    with pytest.raises(ValueError, match='text 1 is empty'):
        inferencer(_image(0), texts=['the star', '   '])
    with pytest.raises(ValueError, match='no expression'):
        inferencer(_image(0), texts=[])
    with pytest.raises(ValueError, match='2 lists of expressions for 3 images'):
        inferencer([_image(0)] * 3, texts=[['a'], ['b']])
    with pytest.raises(ValueError, match=r'shape \(4, 4, 4\)'):
        inferencer(np.zeros((4, 4, 4), np.uint8), texts='x')
    (tmp_path / 'empty_dir').mkdir()
    with pytest.raises(ValueError, match='holds no image'):
        inferencer(str(tmp_path / 'empty_dir'), texts='x')


def test_long_expression_is_truncated_with_a_warning(inferencer):
    context = inferencer.model.mllm.config.text_config.max_position_embeddings
    # The prompt budget leaves room for the answer inside the LLM's context.
    assert inferencer.max_prompt_length + inferencer.model.max_new_tokens <= context
    long_text = ' '.join(['the large red circle left of the blue square'] * 80)  # ~700 words
    with pytest.warns(UserWarning, match='shortened to max_length'):
        out = inferencer(_image(0), texts=[long_text, 'the star'])
    pred = out['predictions'][0]
    assert pred['masks'].shape == (2, 128, 128) and len(pred['answers']) == 2


def test_weights_are_loaded_from_a_checkpoint(tmp_path):
    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.registry import MODELS
    torch.manual_seed(1)
    model = MODELS.build(load_tiny_cfg(config=TINY).model)
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(note='test')), ckpt)
    torch.manual_seed(2)
    inf = DeSa2VAInferencer(load_tiny_cfg(config=TINY), str(ckpt), device='cpu')
    for key, value in model.state_dict().items():
        assert torch.equal(inf.model.state_dict()[key], value), key
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        DeSa2VAInferencer(load_tiny_cfg(config=TINY), str(tmp_path / 'nope.pth'))


def _write_frames(folder, num):
    folder.mkdir()
    base = _image(6)
    frames = []
    for t in range(num):
        frame = np.roll(base, 3 * t, axis=1)  # shapes drift right
        cv2.imwrite(str(folder / f'{t:05d}.png'), frame)
        frames.append(frame)
    return frames


def test_video_folder_and_mp4(inferencer, tmp_path):
    pytest.importorskip('av')
    frames = _write_frames(tmp_path / 'clip', 7)
    out = inferencer.predict_video(str(tmp_path / 'clip'), ['the red circle', 'the star'],
                                   num_key_frames=3, out_dir=str(tmp_path / 'out'),
                                   save_frames=True)
    assert out['video_id'] == 'clip' and out['key_frame_ids'] == [0, 1, 2]
    assert out['masks'].shape == (2, 7, 128, 128) and out['masks'].dtype == bool
    assert len(out['answers']) == 2 and all('[SEG]' in a for a in out['answers'])
    assert osp.isfile(out['out_file'])
    assert len(os.listdir(tmp_path / 'out' / 'clip')) == 7
    from desa2va_mm.datasets.video_io import open_frame_source
    written = open_frame_source(out['out_file'])
    assert len(written) == 7

    # The same frames as an mp4 (lossy) and as arrays (exact) go through the same path.
    from desa2va_mm.visualization.video_overlay import VideoWriter
    mp4 = str(tmp_path / 'clip.mp4')
    with VideoWriter(mp4, fps=5) as writer:
        for f in frames:
            writer.write(f[..., ::-1])
    from_mp4 = inferencer.predict_video(mp4, 'the red circle', num_key_frames=2)
    assert from_mp4['masks'].shape == (1, 7, 128, 128)
    from_arrays = inferencer.predict_video(frames, ['the red circle', 'the star'],
                                           num_key_frames=3)
    assert np.array_equal(from_arrays['masks'], out['masks'])


def test_video_bad_inputs(inferencer, tmp_path):
    (tmp_path / 'no_frames').mkdir()
    with pytest.raises(ValueError, match="video 'no_frames'.*holds no image file"):
        inferencer.predict_video(str(tmp_path / 'no_frames'), 'the red circle')
    with pytest.raises(ValueError, match='zero frames'):
        inferencer.predict_video([], 'the red circle')
    with pytest.raises(FileNotFoundError, match='gone.mp4'):
        inferencer.predict_video(str(tmp_path / 'gone.mp4'), 'the red circle')
    _write_frames(tmp_path / 'ok', 2)
    with pytest.raises(ValueError, match="video 'ok': text 0 is empty"):
        inferencer.predict_video(str(tmp_path / 'ok'), '')
    with pytest.raises(ValueError, match='history turn 0'):
        inferencer.predict_video(str(tmp_path / 'ok'), 'x', history=[dict(user='a')])
    # A frame of another size is named (the masks of a video share frame 0's size).
    frames = [_image(0), _image(1), cv2.resize(_image(2), (96, 64))]
    with pytest.raises(ValueError, match=r"video 'array': frame 2 \('00002'\) is 64x96, "
                       'frame 0 is 128x128'):
        inferencer.predict_video(frames, 'the star', num_key_frames=1)


def test_video_uses_a_pipeline_derived_from_the_image_one(inferencer):
    """The image-only tiny config has no video test pipeline: the video one reuses its
    tile size, normalisation and tokenisation, with Sa2VA's video question."""
    names = [type(t).__name__ for t in inferencer.video_pipeline]
    assert names == ['SampleVideoExpressions', 'SampleVideoFrames', 'LoadVideoFrames',
                     'VideoFrameTiling', 'BuildReferringConversation', 'TokenizeConversation',
                     'PackVideoReferringInputs']
    image_tiling = inferencer.pipeline[0]
    video = dict(zip(names, inferencer.video_pipeline))
    assert video['VideoFrameTiling'].tiling.tile_size == image_tiling.tile_size == 112
    assert video['SampleVideoFrames'].num_key_frames == 5
    assert video['SampleVideoFrames'].key_frame_strategy == 'first'
    # Sa2VA's video evaluation question (projects/llava_sam2/evaluation/dataset/refVOS.py).
    assert video['BuildReferringConversation'].test_question == 'Please segment {expression}.'
    tokenize = video['TokenizeConversation']
    assert tokenize.tokenizer is inferencer.model.mllm.tokenizer
    assert tokenize.num_image_tokens_per_tile == 16
    assert tokenize.max_length == inferencer.max_prompt_length


def test_video_key_frames_and_question(inferencer, tmp_path, monkeypatch):
    seen = []
    original = inferencer.model.mllm.generate

    def spy(input_ids, *args, **kwargs):
        seen.append(input_ids.clone())
        return original(input_ids, *args, **kwargs)
    monkeypatch.setattr(inferencer.model.mllm, 'generate', spy)
    frames = _write_frames(tmp_path / 'clip', 7)
    out = inferencer.predict_video(frames, 'the red circle', num_key_frames=3,
                                   key_frame_strategy='uniform', return_masks=False)
    assert out['key_frame_ids'] == [0, 3, 6] and out['masks'] is None
    assert out['scores'].shape == (1, 7) and out['frame_names'][-1] == '00006'
    tok = inferencer.model.mllm.tokenizer
    prompt = seen[0][0][seen[0][0] != tok.pad_token_id]
    assert 'please segment the red circle .' in tok.decode(prompt)  # Sa2VA's video question
    assert int((prompt == inferencer.model.mllm.image_token_id).sum()) == 3 * 16
    # Default: the pipeline's key frames (the first 5).
    assert inferencer.predict_video(frames, 'the star')['key_frame_ids'] == [0, 1, 2, 3, 4]


def test_exported_folder_gives_the_same_predictions(tmp_path):
    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils.hf_export import export_desa2va
    cfg = load_tiny_cfg(config=TINY)
    torch.manual_seed(3)
    model = MODELS.build(cfg.model).eval()
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    export_desa2va(model, cfg.model.to_dict(), str(tmp_path / 'export'))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from_ckpt = DeSa2VAInferencer(cfg, str(ckpt), device='cpu')
    from_export = DeSa2VAInferencer(str(tmp_path / 'export'), pipeline_config=cfg)
    # Same forced [SEG] answers on both; everything else (ViT, LLM, SAM-2, head, tokenizer,
    # pipeline) comes from the checkpoint / the export.
    force_seg_answers(from_ckpt.model)
    force_seg_answers(from_export.model)
    texts = ['the red circle', 'the star']
    a = from_ckpt(_image(0), texts=texts)['predictions'][0]
    b = from_export(_image(0), texts=texts)['predictions'][0]
    assert a['answers'] == b['answers'] and '[SEG]' in a['answers'][0]
    assert np.array_equal(a['masks'], b['masks'])
    with pytest.raises(ValueError, match='holds its weights'):
        DeSa2VAInferencer(str(tmp_path / 'export'), str(ckpt))
    # Without a config: Sa2VA's pipeline derived from the model (dynamic tiles).
    bare = DeSa2VAInferencer(str(tmp_path / 'export'))
    names = [type(t).__name__ for t in bare.pipeline]
    assert names == ['InternVLTiling', 'DirectResize', 'BuildReferringConversation',
                     'TokenizeConversation', 'PackReferringInputs']
    assert bare.pipeline[0].max_tiles == 12 and bare.pipeline[0].tile_size == 112
    pred = bare(_image(0, (300, 150)), texts=texts)['predictions'][0]
    assert pred['masks'].shape == (2, 150, 300)


def test_video_chat_keeps_history(inferencer, tmp_path, monkeypatch):
    seen = []
    original = inferencer.model.mllm.generate

    def spy(input_ids, *args, **kwargs):
        seen.append(input_ids[0][input_ids[0] != inferencer.model.mllm.tokenizer.pad_token_id])
        return original(input_ids, *args, **kwargs)
    monkeypatch.setattr(inferencer.model.mllm, 'generate', spy)
    _write_frames(tmp_path / 'clip', 4)
    clip = str(tmp_path / 'clip')
    first = inferencer.predict_video(clip, 'Please segment the red circle.', history=[],
                                     num_key_frames=2)
    assert first['history'] == [dict(user='Please segment the red circle.',
                                     assistant=first['answers'][0])]
    second = inferencer.predict_video(clip, 'And the star?', history=first['history'],
                                      num_key_frames=2)
    assert len(second['history']) == 2 and second['masks'].shape == (1, 4, 128, 128)
    # Turn 2's prompt continues turn 1's prompt (image tokens of 2 key frames once).
    assert seen[1][:len(seen[0])].tolist() == seen[0].tolist()
    ctx = inferencer.model.mllm.image_token_id
    assert int((seen[1] == ctx).sum()) == 2 * 16
    with pytest.raises(ValueError, match='one new question'):
        inferencer.predict_video(clip, ['a', 'b'], history=[])


def test_multi_split_test_config(tmp_path):
    """A config whose test set is a ConcatDataset (val / testA / testB, as every real-size
    config) gives the inferencer its shared pipeline, and its checkpoint loads."""
    from desa2va_mm.apis import DeSa2VAInferencer
    cfg = load_tiny_cfg(config='configs/sa2va/sa2va_tiny_test_splits.py')
    assert cfg.test_dataloader.dataset.type == 'ConcatDataset'
    inf = DeSa2VAInferencer(cfg, None, device='cpu', show_progress=False)
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(state_dict=inf.model.state_dict(), meta=dict(iter=1)), ckpt)
    again = DeSa2VAInferencer(cfg, str(ckpt), device='cpu', show_progress=False)
    image = np.full((64, 80, 3), 120, np.uint8)
    out = again(image, texts=['the red circle'])['predictions'][0]
    assert out['masks'].shape == (1, 64, 80)


def test_config_test_pipelines_finds_each_kind():
    """Image and video pipelines are found through ConcatDataset members and wrappers; a
    question-answering pipeline is no referring image pipeline."""
    from mmengine.config import Config

    from desa2va_mm.apis.desa2va_inferencer import config_test_pipelines
    qa = [dict(type='LoadImageFromFile'), dict(type='TokenizeConversation'),
          dict(type='PackReferringInputs')]
    image = [dict(type='LoadImageFromFile'), dict(type='BuildReferringConversation'),
             dict(type='TokenizeConversation'), dict(type='PackReferringInputs')]
    video = [dict(type='SampleVideoFrames'), dict(type='PackVideoReferringInputs')]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(type='LLaVAQADataset', pipeline=qa),
        dict(type='SkipBadSamples', dataset=dict(type='MeViSDataset', pipeline=video)),
        dict(type='RefCocoReferringDataset', pipeline=image)]))))
    found_image, found_video = config_test_pipelines(cfg)
    assert [s['type'] for s in found_image] == [s['type'] for s in image]
    assert [s['type'] for s in found_video] == [s['type'] for s in video]
    assert config_test_pipelines(Config(dict(test_dataloader=None))) == (None, None)
    only_video = Config(dict(test_dataloader=dict(dataset=dict(pipeline=video))))
    assert config_test_pipelines(only_video)[0] is None
