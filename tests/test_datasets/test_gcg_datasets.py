"""GCG datasets on fixtures in GLaMM's layouts, and the GCG conversation they produce."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from desa2va_mm.structures import encode_mask

H, W = 40, 60


def _mask(x0, y0, x1, y1):
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def _image(root, name):
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    cv2.imwrite(osp.join(root, 'images', name), np.full((H, W, 3), 90, np.uint8))


def write_grandf(root):
    """One image, caption 'A man walks a dog near a tree.', phrases listed out of order;
    'a tree' is grounded by two RLEs (their union); one grounding is null."""
    root = str(root)
    _image(root, 'a.jpg')
    caption = 'A man walks a dog near a tree.'
    groundings = {
        'a dog': dict(token_positives=[12, 17], rle_masks=[encode_mask(_mask(30, 20, 40, 30))]),
        'A man': dict(token_positives=[0, 5], rle_masks=[encode_mask(_mask(0, 0, 10, 10))]),
        'a tree': dict(token_positives=[23, 29], rle_masks=[encode_mask(_mask(50, 0, 55, 5)),
                                                            encode_mask(_mask(55, 35, 60, 40))]),
        'walks': None,
    }
    items = [dict(file_name='a.jpg', height=H, width=W, image_id='a', caption=caption,
                  groundings=groundings)]
    json.dump(items, open(osp.join(root, 'grandf.json'), 'w'))
    return root


def _build(cfg):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(cfg)


def _tokenizer():
    from desa2va_mm.registry import TOKENIZERS
    import desa2va_mm  # noqa: F401
    return TOKENIZERS.build(dict(type='TinyWordTokenizer', words=['man', 'walks', 'dog', 'near',
                                                                   'tree']))


def test_grandf_items_sorted_and_masks_in_phrase_order(tmp_path):
    root = write_grandf(tmp_path)
    ds = _build(dict(type='GranDfGCGDataset', data_root=root, ann_file='grandf.json',
                     data_prefix=dict(img_path='images/')))
    assert len(ds) == 1
    item = ds.get_data_info(0)
    assert item['img_path'] == osp.join(root, 'images', 'a.jpg')
    assert [i['phrase'] for i in item['instances']] == ['A man', 'a dog', 'a tree']
    assert [tuple(i['tokens_positive']) for i in item['instances']] == [(0, 5), (12, 17),
                                                                      (23, 29)]


def test_grandf_pipeline_gives_one_seg_and_one_mask_per_phrase(tmp_path):
    root = write_grandf(tmp_path)
    tok = _tokenizer()
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadReferringMasks'),
                dict(type='BuildGCGConversation', mode='train'),
                dict(type='TokenizeConversation', tokenizer=tok, template='qwen2',
                     num_image_tokens_per_tile=4, max_length=512)]
    ds = _build(dict(type='GranDfGCGDataset', data_root=root, ann_file='grandf.json',
                     data_prefix=dict(img_path='images/'), pipeline=pipeline))
    out = ds[0]
    (turn, ) = out['conversation']
    from desa2va_mm.datasets.transforms import GCG_QUESTIONS
    assert turn['user'].startswith('<image>\n')
    assert turn['user'][len('<image>\n'):] in GCG_QUESTIONS
    assert turn['assistant'] == ('<p> A man </p> [SEG] walks <p> a dog </p> [SEG] near '
                                 '<p> a tree </p> [SEG].')
    assert out['text'] == ['A man', 'a dog', 'a tree']
    masks = out['gt_masks'].masks
    assert masks.shape == (3, H, W)
    np.testing.assert_array_equal(masks[0], _mask(0, 0, 10, 10))
    np.testing.assert_array_equal(masks[1], _mask(30, 20, 40, 30))
    np.testing.assert_array_equal(masks[2], _mask(50, 0, 55, 5) | _mask(55, 35, 60, 40))
    seg_id = tok.convert_tokens_to_ids('[SEG]')
    ids, labels = out['input_ids'][0], out['labels'][0]
    assert int((ids == seg_id).sum()) == 3
    # Every [SEG] is an answer token, so it is supervised by the LM loss.
    assert bool((labels[ids == seg_id] == seg_id).all())
    assert len(out['expression_ids']) == 3


def test_gcg_test_prompt_is_sa2va_question(tmp_path):
    from desa2va_mm.datasets.transforms import BuildGCGConversation
    res = BuildGCGConversation(mode='test').transform(dict(
        caption='A man walks.', instances=[dict(phrase='A man', tokens_positive=(0, 5))]))
    assert res['prompts'] == [[{
        'user': '<image>\nCould you please give me a brief description of the image? Please '
                'respond with interleaved segmentation masks for the corresponding parts of '
                'the answer.', 'assistant': None}]]
    assert res['gt_caption'] == 'A man walks.' and res['gt_phrases'] == ['A man']
    assert res['text'] == [res['prompts'][0][0]['user'][len('<image>\n'):]]


def test_overlapping_spans_are_trimmed():
    from desa2va_mm.datasets import sort_and_trim_groundings
    out = sort_and_trim_groundings('the big red box', [('red box', (8, 15), 'm2'),
                                                       ('the big red', (0, 11), 'm1')], 'x')
    assert [(o['phrase'], o['tokens_positive'], o['mask']) for o in out] == [
        ('the big', (0, 7), 'm1'), ('red box', (8, 15), 'm2')]


def test_span_outside_caption_names_the_sample(tmp_path):
    root = write_grandf(tmp_path)
    items = json.load(open(osp.join(root, 'grandf.json')))
    items[0]['groundings']['a dog']['token_positives'] = [12, 99]
    json.dump(items, open(osp.join(root, 'grandf.json'), 'w'))
    with pytest.raises(ValueError, match=r"grandf.json: image 0 \(a.jpg\): phrase 'a dog' has "
                                         r'span \[12, 99\] outside the caption'):
        _build(dict(type='GranDfGCGDataset', data_root=root, ann_file='grandf.json'))


def test_missing_field_and_missing_file(tmp_path):
    root = str(tmp_path)
    json.dump([dict(file_name='a.jpg', caption='x y z')], open(osp.join(root, 'g.json'), 'w'))
    with pytest.raises(ValueError, match="image 0 \\(a.jpg\\) has no 'groundings' field"):
        _build(dict(type='OpenPsgGCGDataset', data_root=root, ann_file='g.json'))
    with pytest.raises(FileNotFoundError, match='nope.json does not exist.*docs/gcg.md'):
        _build(dict(type='GranDfGCGDataset', data_root=root, ann_file='nope.json'))


def test_flickr_layout_filters_as_sa2va(tmp_path):
    root = str(tmp_path)
    caption = 'Two dogs run on grass.'
    images = [dict(id=1, file_name='1.jpg', height=H, width=W, caption=caption),
              dict(id=2, file_name='2.jpg', height=H, width=W, caption='dog running')]
    rle = encode_mask(_mask(0, 0, 5, 5))
    anns = [
        dict(id=1, image_id=1, bbox=[10, 10, 5, 5], area=25, tokens_positive=[[16, 21]],
             sam_mask=rle),
        dict(id=2, image_id=1, bbox=[0, 0, 5, 5], area=25, tokens_positive=[[0, 8]],
             sam_mask=rle),
        dict(id=3, image_id=1, bbox=[0, 0, 0.5, 5], area=2, tokens_positive=[[9, 12]],
             sam_mask=rle),  # under 1 px wide: skipped
        dict(id=4, image_id=1, bbox=[0, 0, 5, 5], area=25, tokens_positive=[[9, 12]],
             sam_mask=rle, ignore=True),
        dict(id=5, image_id=2, bbox=[0, 0, 5, 5], area=25, tokens_positive=[[0, 3]],
             sam_mask=rle),
    ]
    json.dump(dict(images=images, annotations=anns), open(osp.join(root, 'f.json'), 'w'))
    ds = _build(dict(type='FlickrGCGDataset', data_root=root, ann_file='f.json'))
    assert len(ds) == 1  # the two-word caption is left out
    item = ds.get_data_info(0)
    assert [i['phrase'] for i in item['instances']] == ['Two dogs', 'grass']


def test_refcocog_gcg_layout(tmp_path):
    root = str(tmp_path)
    poly = [[0, 0, 10, 0, 10, 10, 0, 10]]
    data = [{'17': dict(img_file_name='COCO_1.jpg', caption='"A Woman holds an umbrella."',
                        refs=[dict(sentence='an umbrella', bbox=[0, 0, 1, 1], segmentation=poly),
                              dict(sentence='a woman', bbox=[0, 0, 1, 1], segmentation=poly),
                              dict(sentence='a cat', bbox=[0, 0, 1, 1], segmentation=poly)])}]
    json.dump(data, open(osp.join(root, 'r.json'), 'w'))
    ds = _build(dict(type='RefCOCOgGCGDataset', data_root=root, ann_file='r.json'))
    item = ds.get_data_info(0)
    assert item['caption'] == 'a woman holds an umbrella.'
    assert item['img_id'] == '17'
    assert [(i['phrase'], i['tokens_positive']) for i in item['instances']] == [
        ('a woman', (0, 7)), ('an umbrella', (14, 25))]


def test_grandf_eval_dataset(tmp_path):
    root = str(tmp_path)
    _image(root, 'im1.jpg')
    captions = dict(images=[dict(id='im1', file_name='im1.jpg', height=H, width=W)],
                    annotations=[dict(id=1, image_id='im1', caption='A man and a dog.',
                                      labels=['A man', 'a dog'])])
    masks = dict(images=captions['images'], categories=[dict(id=1, name='object')],
                 annotations=[dict(id=2, image_id='im1', category_id=1,
                                   segmentation=encode_mask(_mask(30, 20, 40, 30))),
                              dict(id=1, image_id='im1', category_id=1,
                                   segmentation=encode_mask(_mask(0, 0, 10, 10)))])
    json.dump(captions, open(osp.join(root, 'cap.json'), 'w'))
    json.dump(masks, open(osp.join(root, 'mask.json'), 'w'))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadReferringMasks'),
                dict(type='BuildGCGConversation', mode='test')]
    ds = _build(dict(type='GranDfGCGEvalDataset', data_root=root, ann_file='cap.json',
                     mask_file='mask.json', data_prefix=dict(img_path='images/'),
                     test_mode=True, pipeline=pipeline))
    out = ds[0]
    assert out['gt_phrases'] == ['A man', 'a dog'] and out['gt_caption'] == 'A man and a dog.'
    np.testing.assert_array_equal(out['gt_masks'].masks[0], _mask(0, 0, 10, 10))
    np.testing.assert_array_equal(out['gt_masks'].masks[1], _mask(30, 20, 40, 30))
    captions['annotations'][0]['labels'] = ['A man']
    json.dump(captions, open(osp.join(root, 'cap.json'), 'w'))
    with pytest.raises(ValueError, match="image 'im1': 1 phrases in the caption file but 2 "
                                         'masks'):
        _build(dict(type='GranDfGCGEvalDataset', data_root=root, ann_file='cap.json',
                    mask_file='mask.json', test_mode=True))


def test_synthetic_gcg_loads_in_both_layouts(tmp_path):
    from desa2va_mm.synthetic import make_synthetic_gcg
    from desa2va_mm.synthetic.coco_io import decode_segmentation
    root = str(tmp_path)
    assert make_synthetic_gcg(root, num_images=8, seed=3) == dict(train=6, val=2)
    train = _build(dict(type='GranDfGCGDataset', data_root=root,
                        ann_file='annotations/GranDf_HA_GCG_train.json',
                        data_prefix=dict(img_path='images/')))
    assert len(train) == 6
    for i in range(len(train)):
        item = train.get_data_info(i)
        assert 2 <= len(item['instances']) <= 3 and osp.isfile(item['img_path'])
        assert ' is left of ' in item['caption'] and item['caption'].endswith(' .')
        for inst in item['instances']:
            start, end = inst['tokens_positive']
            assert item['caption'][start:end] == inst['phrase']
            assert inst['phrase'].startswith('the ')
            assert decode_segmentation(inst['mask'][0], 128).sum() > 0
    val = _build(dict(type='GranDfGCGEvalDataset', data_root=root,
                      ann_file='annotations/gcg_val_test/val_gcg_coco_caption_gt.json',
                      mask_file='annotations/gcg_val_test/val_gcg_coco_mask_gt.json',
                      data_prefix=dict(img_path='images/'), test_mode=True))
    assert len(val) == 2
    item = val.get_data_info(0)
    assert item['gt_phrases'] == [i['phrase'] for i in item['instances']]
    assert all(p in item['caption'] for p in item['gt_phrases'])


def test_make_synthetic_gcg_cli(tmp_path):
    import subprocess
    import sys

    from conftest import REPO_ROOT
    script = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'make_synthetic_gcg.py')
    out = subprocess.run([sys.executable, script, '--help'], capture_output=True, text=True)
    assert out.returncode == 0 and '--num-images' in out.stdout
    out = subprocess.run([sys.executable, script, '--out', str(tmp_path), '--num-images', '1'],
                         capture_output=True, text=True)
    assert out.returncode != 0 and 'num_images must be >= 2' in out.stderr


def test_gcg_test_leaves_are_their_model_on_granDf_val():
    import glob
    import re

    from mmengine.config import Config

    from conftest import REPO_ROOT
    configs = osp.join(REPO_ROOT, 'configs')
    found = set()
    for family, model in (('desa2va_gcg_test', 'desa2va'), ('sa2va_gcg_test', 'sa2va')):
        with open(osp.join(configs, family, 'README.md'), encoding='utf-8') as f:
            assert f'`{model}_{{1b,4b,8b}}_granDf_val.py`' in f.read()
        for path in glob.glob(osp.join(configs, family, f'{model}_[148]b_*.py')):
            size, bench = re.fullmatch(rf'{model}_([148]b)_(\w+)\.py',
                                       osp.basename(path)).groups()
            found.add((model, size, bench))
            cfg = Config.fromfile(path)
            model_base = Config.fromfile(osp.join(configs, '_base_', 'models',
                                                  f'{model}_{size}.py'))
            assert cfg.model.mllm.pretrained == model_base.model.mllm.pretrained
            assert cfg.model.max_new_tokens == 512
            assert cfg.model.get('train_phase') == ('fusion' if model == 'desa2va' else
                                                    model_base.model.get('train_phase'))
            assert cfg.test_evaluator.type == 'GCGMetric'
            dataset = cfg.test_dataloader.dataset
            assert dataset.type == 'GranDfGCGEvalDataset' and dataset.test_mode
            steps = [s.type for s in dataset.pipeline]
            assert steps.index('DirectResize') < steps.index('LoadReferringMasks')
            pack = dataset.pipeline[-1]
            assert {'gt_masks', 'gt_caption', 'gt_phrases'} <= set(pack.meta_keys)
            assert cfg.train_dataloader is None and cfg.val_dataloader is None
    assert found == {(m, s, 'granDf_val') for m in ('desa2va', 'sa2va') for s in ('1b', '4b', '8b')}
