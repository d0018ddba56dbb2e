"""Osprey-layout region datasets: records -> conversations with region prompts, errors,
the tokenised <vp> spans, and a training step of both segmentors on them."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from desa2va_mm.structures import REGION_PLACEHOLDER
from desa2va_mm.datasets.transforms.build_referring_conversation import IMAGE_PLACEHOLDER

VP_CFG = 'configs/sa2va/sa2va_tiny_vp.py'


@pytest.fixture(scope='module')
def osprey_root(tmp_path_factory):
    from desa2va_mm.synthetic.osprey_writer import make_synthetic_osprey
    root = str(tmp_path_factory.mktemp('synthetic_osprey'))
    make_synthetic_osprey(root, num_images=6, seed=0, val_fraction=0.34)
    return root


def _build(kind, root, ann_file, **kwargs):
    from mmengine.registry import init_default_scope

    import desa2va_mm.datasets  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(dict(type=kind, data_root=root, ann_file=ann_file,
                               data_prefix=dict(img_path='images/'), pipeline=[], **kwargs))


def test_conversation_records_become_region_turns(osprey_root):
    ds = _build('OspreyDataset', osprey_root, 'Osprey-724K/osprey_conversation.json')
    records = json.load(open(osp.join(osprey_root, 'Osprey-724K/osprey_conversation.json')))
    item = ds[0]
    assert len(item['region_segmentations']) == len(records[0]['annotation'])
    first = item['conversation'][0]['user']
    question = records[0]['conversations'][0]['value']
    # The image, then the region list, then the question with <region1> read as region1.
    assert first == f"{IMAGE_PLACEHOLDER}\n{REGION_PLACEHOLDER}" + question.replace(
        '<', '').replace('>', '')
    assert [t['assistant'] for t in item['conversation']] == [
        m['value'] for m in records[0]['conversations'][1::2]]
    assert item['instances'] == [] and item['text'] == []


def test_short_description_and_segment_like(osprey_root):
    short = _build('OspreyShortDescriptionDataset', osprey_root,
                   'Osprey-724K/osprey_short_form.json')[0]
    assert all(t['user'].endswith(' Answer the question using a single word or phrase.')
               for t in short['conversation'])
    desc = _build('OspreyDescriptionDataset', osprey_root,
                  'Osprey-724K/osprey_detail_description.json')[0]
    assert len(desc['conversation']) == len(desc['region_segmentations'])
    assert 'region1' in desc['conversation'][0]['user']
    seg = _build('OspreyDataset', osprey_root, 'Osprey-724K/osprey_segment_like.json')[0]
    assert seg['conversation'][0]['assistant'] == 'Sure, [SEG].'
    assert len(seg['instances']) == 1 and seg['text'][0].startswith('the ')


def test_bad_records_name_the_file_and_record(tmp_path):
    def write(records):
        (tmp_path / 'a.json').write_text(json.dumps(records))
        return _build('OspreyDataset', str(tmp_path), 'a.json')
    base = dict(file_name='x.jpg', height=4, width=4,
                annotation=[dict(segmentation=[[0, 0, 3, 0, 3, 3]])],
                conversations=[{'from': 'human', 'value': 'What is <region1>?'},
                               {'from': 'gpt', 'value': 'a thing'}])
    with pytest.raises(ValueError, match=r'a.json: record 0 \(x.jpg\): region 1 has no'):
        write([dict(base, annotation=[dict(bbox=[0, 0, 1, 1])])])
    with pytest.raises(ValueError, match=r'record 0 \(x.jpg\): 1 \[SEG\] tokens .* 0 "targets"'):
        write([dict(base, conversations=[{'from': 'human', 'value': 'q'},
                                         {'from': 'gpt', 'value': '[SEG]'}])])
    with pytest.raises(ValueError, match='no usable record'):
        write([dict(base, annotation=[])])
    with pytest.raises(FileNotFoundError, match='docs/visual_prompts.md'):
        _build('OspreyDataset', str(tmp_path), 'missing.json')


def _vp_cfg(osprey_root, members=('conversation', 'segment_like')):
    from mmengine.config import Config
    cfg = Config.fromfile(VP_CFG)
    ds = cfg.train_dataloader.dataset.datasets
    keep = [d for d in ds if d.get('ann_file', '').split('osprey_')[-1].split('.')[0]
            in members]
    for d in keep:
        d.data_root = osprey_root + '/'
    return cfg, keep


def test_pipeline_tokenises_one_vp_span_per_region(osprey_root):
    from mmengine.registry import init_default_scope

    import desa2va_mm.datasets  # noqa: F401
    from desa2va_mm.registry import DATASETS, TOKENIZERS
    init_default_scope('desa2va_mm')
    cfg, members = _vp_cfg(osprey_root)
    ds = DATASETS.build(members[0])
    packed = ds[0]
    sample = packed['data_samples']
    masks = sample.prompt_masks
    assert masks.dtype == torch.bool and masks.shape[1:] == (128, 128)
    tok = TOKENIZERS.build(cfg.vp_tokenizer)
    ids = sample.input_ids[0]
    vp, vp_end, ctx = tok.convert_tokens_to_ids(['<vp>', '</vp>', '<IMG_CONTEXT>'])
    assert int((ids == vp).sum()) == int((ids == vp_end).sum()) == masks.shape[0]
    # 16 image tokens + one per covered 4 x 4 grid cell per region.
    from desa2va_mm.structures import region_token_counts
    assert int((ids == ctx).sum()) == 16 + sum(region_token_counts(masks.numpy(), 4))
    text = tok.decode(ids)
    assert f'there are {masks.shape[0]} part regions in the picture : region1' in text


@pytest.mark.parametrize('model_cfg', ['sa2va', 'desa2va'])
def test_training_step_with_region_prompts(osprey_root, model_cfg):
    """Both segmentors train on region prompts: the LM loss is finite, the mask loss comes
    from the segment-like target, and the vision tower gets gradients."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS, MODELS
    init_default_scope('desa2va_mm')
    cfg, members = _vp_cfg(osprey_root)
    model_cfg = cfg.model if model_cfg == 'sa2va' else Config.fromfile(
        'configs/_base_/models/desa2va_tiny.py').model
    model_cfg.mllm.tokenizer = cfg.vp_tokenizer
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    batch = pseudo_collate([DATASETS.build(members[0])[0], DATASETS.build(members[1])[0]])
    data = model.data_preprocessor(batch, True)
    assert len(data['inputs']['prompt_masks']) == 2
    losses = model.loss(**data)
    assert torch.isfinite(losses['loss_lm'])
    total = sum(v for k, v in losses.items() if k.startswith('loss') and v.requires_grad)
    total.backward()
    vision = model.mllm.model.model.vision_tower
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vision.parameters())


def test_region_count_mismatch_names_the_sample(osprey_root):
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS, MODELS
    init_default_scope('desa2va_mm')
    cfg, members = _vp_cfg(osprey_root)
    model = MODELS.build(cfg.model)
    packed = DATASETS.build(members[0])[0]
    sample = packed['data_samples']
    sample.prompt_masks = torch.cat([sample.prompt_masks, sample.prompt_masks[:1]])
    data = model.data_preprocessor(pseudo_collate([packed]), True)
    with pytest.raises(ValueError, match=r'osprey_000001.jpg: \d region prompts'):
        model.loss(**data)
