"""LLaVAQADataset: LLaVA-format JSON for images and videos, end to end through the model."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from conftest import build_batch


def write_llava(root):
    """An image record (placeholder not first, two turns), a video record (frame folder),
    an mp4 record, a text-only record and one whose answer holds a reserved token."""
    root = str(root)
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    os.makedirs(osp.join(root, 'videos', 'clip0'), exist_ok=True)
    cv2.imwrite(osp.join(root, 'images', 'cat.jpg'), np.full((60, 90, 3), 100, np.uint8))
    for i in range(7):
        cv2.imwrite(osp.join(root, 'videos', 'clip0', f'{i:05d}.jpg'),
                    np.full((30, 40, 3), 30 * i, np.uint8))
    writer = cv2.VideoWriter(osp.join(root, 'videos', 'clip1.mp4'),
                             cv2.VideoWriter_fourcc(*'mp4v'), 5, (40, 30))
    for i in range(6):
        writer.write(np.full((30, 40, 3), 40 * i, np.uint8))
    writer.release()
    records = [
        dict(id='img-1', image='cat.jpg', conversations=[
            dict(**{'from': 'human', 'value': 'What is it?\n<image>'}),
            dict(**{'from': 'gpt', 'value': 'A red square.'}),
            dict(**{'from': 'human', 'value': 'Is it big?'}),
            dict(**{'from': 'gpt', 'value': 'It is small.'})]),
        dict(id='vid-1', video='clip0', conversations=[
            dict(**{'from': 'human', 'value': '<video>\nWhat happens?'}),
            dict(**{'from': 'gpt', 'value': 'It gets brighter.'})]),
        dict(id='vid-2', video='clip1.mp4', conversations=[
            dict(**{'from': 'human', 'value': '<video>\nAnd here?'}),
            dict(**{'from': 'gpt', 'value': 'Same.'})]),
        dict(id='txt-1', conversations=[dict(**{'from': 'human', 'value': 'Hi'}),
                                        dict(**{'from': 'gpt', 'value': 'Hello'})]),
        dict(id='bad-1', image='cat.jpg', conversations=[
            dict(**{'from': 'human', 'value': '<image>\nSegment it'}),
            dict(**{'from': 'gpt', 'value': 'Sure, [SEG].'})]),
    ]
    json.dump(records, open(osp.join(root, 'qa.json'), 'w'))
    return root


def _tiny_steps(cfg):
    steps = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    return steps['InternVLTiling'], steps['TokenizeConversation']


def qa_dataset_cfg(cfg, root, test_mode=False):
    tiling, tokenize = _tiny_steps(cfg)
    meta = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'question_id',
            'prompt')
    image = [dict(type='LoadImageFromFile'), tiling, tokenize]
    tail = [dict(type='LoadReferringMasks'), dict(type='Resize', scale=(128, 128),
                                                  keep_ratio=False)]
    if test_mode:
        tail = tail[1:]
    pack = dict(type='PackReferringInputs', meta_keys=meta) if test_mode else dict(
        type='PackReferringInputs')
    return dict(type='LLaVAQADataset', data_root=root, ann_file='qa.json',
                data_prefix=dict(img_path='images/', video_path='videos/'),
                test_mode=test_mode, pipeline=image + tail + [pack])


def _build(cfg_dict):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(cfg_dict)


def test_records_turns_and_skips(tmp_path, tiny_cfg):
    root = write_llava(tmp_path)
    ds = _build(qa_dataset_cfg(tiny_cfg, root))
    assert len(ds) == 3  # text-only and reserved-token records skipped
    img = ds.get_data_info(0)
    assert img['question_id'] == 'img-1' and img['img_path'].endswith('images/cat.jpg')
    assert img['conversation'] == [
        dict(user='<image>\nWhat is it?', assistant='A red square.'),
        dict(user='Is it big?', assistant='It is small.')]
    vid = ds.get_data_info(1)
    assert vid['modality'] == 'video' and vid['conversation'][0]['user'].startswith('<image>')
    test = _build(qa_dataset_cfg(tiny_cfg, root, test_mode=True))
    assert test.get_data_info(0)['prompts'] == [[dict(user='<image>\nWhat is it?',
                                                      assistant=None)]]
    assert test.get_data_info(0)['prompt'] == 'What is it?'
    records = json.load(open(osp.join(root, 'qa.json')))
    records[1]['conversations'][1]['from'] = 'human'
    json.dump(records, open(osp.join(root, 'qa.json'), 'w'))
    with pytest.raises(ValueError, match=r'record 1 \(id vid-1\): message 1 should come '
                                         r"from the assistant, got 'human'"):
        _build(qa_dataset_cfg(tiny_cfg, root))
    records[1]['conversations'][1]['from'] = 'gpt'
    records[0]['image'] = ['cat.jpg', 'cat.jpg']
    json.dump(records, open(osp.join(root, 'qa.json'), 'w'))
    with pytest.raises(ValueError, match='record 0 .*multi-image records are not supported'):
        _build(qa_dataset_cfg(tiny_cfg, root))


def test_answers_only_are_supervised(tmp_path, tiny_cfg):
    root = write_llava(tmp_path)
    ds = _build(qa_dataset_cfg(tiny_cfg, root))
    sample = ds[0]['data_samples']
    ids, labels = sample.input_ids[0], sample.labels[0]
    tok = ds.pipeline.transforms[2].tokenizer
    assert (ids == tok.convert_tokens_to_ids('<IMG_CONTEXT>')).sum() == 16  # one 112 tile
    supervised = labels[labels != -100].tolist()
    answers = (tok('A red square.', add_special_tokens=False)['input_ids'] +
               tok('<|im_end|>', add_special_tokens=False)['input_ids'] +
               tok('It is small.', add_special_tokens=False)['input_ids'] +
               tok('<|im_end|>', add_special_tokens=False)['input_ids'])
    assert supervised == answers
    assert len(sample.gt_instances.masks) == 0 and tuple(sample.gt_instances.masks.masks.shape[
        1:]) == (128, 128)


def video_qa_cfg(cfg, root):
    _, tokenize = _tiny_steps(cfg)
    video = qa_dataset_cfg(cfg, root)
    video['pipeline'] = [dict(type='LoadQAVideoFrames', num_frames=3, tile_size=112),
                         tokenize, dict(type='LoadReferringMasks'),
                         dict(type='Resize', scale=(128, 128), keep_ratio=False),
                         dict(type='PackReferringInputs')]
    return video


def test_video_frames_as_tiles(tmp_path, tiny_cfg):
    root = write_llava(tmp_path)
    cfg = video_qa_cfg(tiny_cfg, root)
    ds = _build(cfg)
    for idx in (1, 2):  # frame folder, then mp4
        out = ds[idx]
        assert out['data_samples'].pixel_values.shape == (3, 3, 112, 112)
        assert out['inputs'].shape == (3, 128, 128)
    # Frames 1, 3, 5 of the 7-frame folder (segment centres): brightness 30 * i.
    frames = ds.pipeline.transforms[0]._read(osp.join(root, 'videos', 'clip0'))
    assert [int(f[0, 0, 0]) for f in frames] == [30, 90, 150]
    with pytest.raises(FileNotFoundError, match='nowhere.mp4'):
        ds.pipeline.transforms[0]._read(osp.join(root, 'nowhere.mp4'))


def test_qa_and_referring_batch_through_the_model(tmp_path, tiny_cfg, tiny_model):
    root = write_llava(tmp_path)
    qa = _build(qa_dataset_cfg(tiny_cfg, root))
    video_qa = _build(video_qa_cfg(tiny_cfg, root))
    ref_batch, _ = build_batch(tiny_cfg, indices=(0, ))
    tiny_model.train()
    # Image + video QA: LM loss only, the mask path runs with zero weight.
    data = tiny_model.data_preprocessor(pseudo_collate([qa[0], video_qa[1]]), True)
    losses = tiny_model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['loss_lm']) and losses['loss_lm'] > 0
    assert losses['loss_mask'] == 0 and losses['loss_dice'] == 0
    sum(losses.values()).backward()
    lm_grads = [p.grad for n, p in tiny_model.named_parameters()
                if 'mllm' in n and p.requires_grad and p.grad is not None]
    assert lm_grads and any(g.abs().sum() > 0 for g in lm_grads)
    tiny_model.zero_grad()
    # QA + referring in one batch: the referring sample's masks are supervised.
    mixed = pseudo_collate([qa[0]] + [dict(inputs=i, data_samples=s) for i, s in zip(
        ref_batch['inputs'], ref_batch['data_samples'])])
    data = tiny_model.data_preprocessor(mixed, True)
    losses = tiny_model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_mask'] > 0 and torch.isfinite(losses['loss_lm'])


def test_answers_written_for_each_question(tmp_path, tiny_cfg, tiny_model):
    from desa2va_mm.evaluation import QAAnswerWriter
    root = write_llava(tmp_path)
    ds = _build(qa_dataset_cfg(tiny_cfg, root, test_mode=True))
    tiny_model.eval()
    out_file = tmp_path / 'answers.jsonl'
    writer = QAAnswerWriter(out_file=str(out_file))
    data = tiny_model.data_preprocessor(pseudo_collate([ds[0]]), False)
    preds = tiny_model.predict(data['inputs'], data['data_samples'])
    writer.process({}, [p.to_dict() for p in preds])
    writer.compute_metrics(writer.results)
    line = json.loads(out_file.read_text().strip())
    assert line['question_id'] == 'img-1' and line['prompt'] == 'What is it?'
    assert line['answer'] == preds[0].pred_answers[0]
