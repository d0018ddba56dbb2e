"""The real-resolution image dataset configs: structure, and the pipelines on real sizes."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT, give_real_size_tokenizer

BASE = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets')


@pytest.mark.parametrize('name,prefixes', [
    ('refcoco', ['refcoco_val', 'refcoco_testA', 'refcoco_testB']),
    ('refcoco_plus', ['refcoco_plus_val', 'refcoco_plus_testA', 'refcoco_plus_testB']),
    ('refcocog', ['refcocog_val', 'refcocog_test']),
    ('grefcoco', ['grefcoco_val', 'grefcoco_testA', 'grefcoco_testB']),
    ('reason_seg', ['reason_seg_val', 'reason_seg_test']),
])
def test_every_split_one_metric(name, prefixes):
    cfg = Config.fromfile(osp.join(BASE, f'{name}.py'))
    datasets = cfg.test_dataloader.dataset.datasets
    assert cfg.test_dataloader.dataset.type == 'ConcatDataset'
    assert cfg.test_evaluator.type == 'MultiDatasetsEvaluator'
    assert cfg.test_evaluator.dataset_prefixes == prefixes
    assert len(cfg.test_evaluator.metrics) == len(datasets) == len(prefixes)
    assert all(d.test_mode for d in datasets)
    if name.startswith('ref'):
        assert [d.split for d in datasets] == [p.split('_')[-1] for p in prefixes]
        umd = name == 'refcocog'
        assert datasets[0].split_file.endswith('refs(umd).p' if umd else 'refs(unc).p')
    train = cfg.train_dataloader.dataset.pipeline
    sample = next(t for t in train if t.type == 'SampleReferringTargets')
    assert sample.mode == 'random' and sample.max_objects == 5
    tiling = next(t for t in train if t.type == 'InternVLTiling')
    assert (tiling.tile_size, tiling.min_tiles, tiling.max_tiles, tiling.use_thumbnail) == (
        448, 1, 12, True)
    resize = next(t for t in train if t.type == 'Resize')
    assert resize.scale == (1024, 1024) and resize.keep_ratio is False
    assert train[6].type == 'TokenizeConversation'  # documented index (dataset_prepare.md)
    test = datasets[0].pipeline
    assert test[6].type == 'TokenizeConversation'
    assert next(t for t in test if t.type == 'SampleReferringTargets').mode == 'all'


def test_sa2va_mix_repeats_and_members():
    cfg = Config.fromfile(osp.join(BASE, 'sa2va_mix.py'))
    members = cfg.train_dataloader.dataset.datasets
    assert cfg.train_dataloader.dataset.type == 'ConcatDataset'
    assert cfg.train_dataloader.dataset.ignore_keys == ['dataset_type']
    summary = [(m.get('times', 1), (m.dataset if m.type == 'RepeatDataset' else m).type)
               for m in members]
    assert summary == [(4, 'RefCocoReferringDataset')] * 3 + [
        (1, 'GRefCocoDataset'), (1, 'LLaVAQADataset'), (1, 'LLaVAQADataset'),
        (4, 'MeViSDataset'), (10, 'ReVOSDataset'), (4, 'RefYTVOSDataset')]
    splits = [m.dataset.split_file for m in members[:3]]
    assert splits == ['refcoco/refs(unc).p', 'refcoco+/refs(unc).p', 'refcocog/refs(umd).p']
    assert 'Please segment {expression} in this video.' in str(members[-1].dataset.pipeline)


def test_real_size_pipelines_on_images(synthetic_refcoco):
    """The RefCOCO pipelines at real sizes: 448 tiles + thumbnail, 256 tokens per tile,
    1024 SAM-2 input, masks at the SAM-2 size in training and the original size at test."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(BASE, 'refcoco.py'))
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = synthetic_refcoco + '/'
    ds = DATASETS.build(train_cfg)
    give_real_size_tokenizer(ds)
    out = ds[0]
    sample = out['data_samples']
    # 128 x 128 synthetic images: a square too small for a 2x2 grid -> 1 tile, no thumbnail.
    assert sample.pixel_values.shape == (1, 3, 448, 448)
    assert out['inputs'].shape == (3, 1024, 1024)
    tok = ds.pipeline.transforms[6].tokenizer
    ctx = tok.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert int((sample.input_ids[0] == ctx).sum()) == 256
    seg = tok.convert_tokens_to_ids('[SEG]')
    n_targets = len(sample.gt_instances.masks)
    assert 1 <= n_targets <= 5 and int((sample.input_ids[0] == seg).sum()) == n_targets
    assert sample.gt_instances.masks.masks.shape[1:] == (1024, 1024)
    test_cfg = cfg.val_dataloader.dataset
    test_cfg.data_root = synthetic_refcoco + '/'
    val = DATASETS.build(test_cfg)
    give_real_size_tokenizer(val)
    item = val[0]['data_samples']
    assert len(item.input_ids) == len(item.text)  # one prompt per sentence
    assert item.gt_masks.masks.shape[1:] == (128, 128)  # original resolution
    assert all(int((ids == seg).sum()) == 0 for ids in item.input_ids)


def test_reason_seg_and_qa_configs(tmp_path):
    """ReasonSeg's real test pipeline hands the ignore region to the metric; the QA config
    writes answers with QAAnswerWriter."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    from test_reason_seg_dataset import write_reason_seg
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(BASE, 'reason_seg.py'))
    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = write_reason_seg(tmp_path)
    val = DATASETS.build(val_cfg)
    give_real_size_tokenizer(val)
    item = val[0]['data_samples']
    assert item.gt_ignore_masks.masks.sum() == 9 and item.gt_masks.masks.sum() == 91
    assert item.is_sentence is True and len(item.input_ids) == 1
    qa = Config.fromfile(osp.join(BASE, 'llava_qa.py'))
    assert qa.test_evaluator.type == 'QAAnswerWriter'
    assert 'question_id' in qa.test_dataloader.dataset.pipeline[-1].meta_keys
    assert qa.train_dataloader.dataset.pipeline[2].type == 'TokenizeConversation'
