"""Test-only image leaves (configs/desa2va_image_test/, configs/sa2va_image_test/): each is
its model's base plus one benchmark's test-only base, its test set builds on fixture data
in the real layout, its evaluator scores every split on its own, and its model is the
right architecture (built around the tiny MLLM and SAM-2, as tests/test_leaf_configs.py)."""
import ast
import copy
import glob
import importlib.util
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT, give_real_size_tokenizer

CONFIGS = osp.join(REPO_ROOT, 'configs')
FAMILIES = {'desa2va_image_test': 'desa2va', 'sa2va_image_test': 'sa2va'}
SIZES = ('1b', '4b', '8b')
#: benchmark -> (its splits, metric type, metric names per split).
BENCHMARKS = {
    'refcoco': (['val', 'testA', 'testB'], 'ReferringSegMetric', {'cIoU', 'gIoU'}),
    'refcoco_plus': (['val', 'testA', 'testB'], 'ReferringSegMetric', {'cIoU', 'gIoU'}),
    'refcocog': (['val', 'test'], 'ReferringSegMetric', {'cIoU', 'gIoU'}),
    'grefcoco': (['val', 'testA', 'testB'], 'GRefSegMetric',
                 {'cIoU', 'gIoU', 'N-acc', 'T-acc', 'Pr@0.7', 'Pr@0.8', 'Pr@0.9'}),
    'reason_seg': (['val', 'test'], 'ReferringSegMetric', {'cIoU', 'gIoU'}),
}
LEAVES = sorted(osp.relpath(p, CONFIGS) for family in FAMILIES
                for p in glob.glob(osp.join(CONFIGS, family, '*.py')))
#: The split files each RefCOCO-family benchmark reads (RefCOCOg: UMD).
SPLIT_FILES = {'refcoco': 'refcoco/refs(unc).p', 'refcoco_plus': 'refcoco+/refs(unc).p',
               'refcocog': 'refcocog/refs(umd).p', 'grefcoco': 'grefcoco/grefs(unc).json'}


def _parts(leaf):
    family, model, size, bench = re.fullmatch(
        r'(\w+_image_test)/(desa2va|sa2va)_([148]b)_(\w+)\.py', leaf).groups()
    assert FAMILIES[family] == model and bench in BENCHMARKS, leaf
    return model, size, bench


def _load(leaf):
    return Config.fromfile(osp.join(CONFIGS, leaf))


def test_every_model_size_and_benchmark_has_one_leaf():
    assert sorted(_parts(leaf) for leaf in LEAVES) == sorted(
        (model, size, bench) for model in FAMILIES.values() for size in SIZES
        for bench in BENCHMARKS)
    for family in FAMILIES:  # each folder's README lists its leaves
        with open(osp.join(CONFIGS, family, 'README.md'), encoding='utf-8') as f:
            readme = f.read()
        for bench in BENCHMARKS:
            assert f'_{{1b,4b,8b}}_{bench}.py' in readme, (family, bench)
    with open(osp.join(REPO_ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    assert all(f'[`configs/{family}/`](configs/{family}/README.md)' in readme
               for family in FAMILIES)


@pytest.mark.parametrize('leaf', LEAVES)
def test_leaf_is_its_model_on_its_benchmark(leaf):
    model, size, bench = _parts(leaf)
    with open(osp.join(CONFIGS, leaf), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    assigned = {node.targets[0].id: ast.unparse(node.value) for node in tree.body}
    expected = {'_base_': str([f'../_base_/models/{model}_{size}.py',
                               f'../_base_/image_test/{bench}.py'])}
    if model == 'desa2va':
        expected['model'] = "dict(train_phase='fusion')"  # the phase-3 network
    assert assigned == expected
    cfg = _load(leaf).to_dict()
    model_base = Config.fromfile(osp.join(CONFIGS, f'_base_/models/{model}_{size}.py'))
    bench_base = Config.fromfile(osp.join(CONFIGS, f'_base_/image_test/{bench}.py'))
    extra = dict(train_phase='fusion') if model == 'desa2va' else {}
    assert cfg['model'] == dict(model_base.model.to_dict(), **extra)
    assert {k: v for k, v in cfg.items() if k not in model_base} == bench_base.to_dict()
    assert cfg['train_dataloader'] is None and cfg['val_dataloader'] is None
    assert cfg['val_evaluator'] is None and cfg['test_cfg'] == dict(type='TestLoop')
    assert 'custom_hooks' not in cfg and 'optim_wrapper' not in cfg
    if model == 'desa2va':
        assert cfg['model']['seg_head']['type'] == 'DecoupledSegHead'
        assert cfg['model']['test_cfg'] == dict(reprompt_iters=1, reprompt_iou_threshold=None)
    else:
        assert cfg['model']['seg_head']['type'] == 'Sa2VASegHead'
        assert 'test_cfg' not in cfg['model'] and 'train_phase' not in cfg['model']


@pytest.mark.parametrize('bench', sorted(BENCHMARKS))
def test_image_test_base_splits_and_metrics(bench):
    splits, metric_type, _ = BENCHMARKS[bench]
    cfg = Config.fromfile(osp.join(CONFIGS, f'_base_/image_test/{bench}.py'))
    datasets = cfg.test_dataloader.dataset.datasets
    assert cfg.test_dataloader.dataset.type == 'ConcatDataset'
    assert all(d.test_mode for d in datasets) and len(datasets) == len(splits)
    if bench == 'reason_seg':
        assert [d.data_prefix.img_path for d in datasets] == [
            f'ReasonSeg/{s}/' for s in splits]
        pipeline = datasets[0].pipeline
        assert dict(type='LoadReferringMasks', with_ignore=True) in pipeline
        assert 'is_sentence' in pipeline[-1].meta_keys
    else:
        assert [d.split for d in datasets] == splits
        assert {d.split_file for d in datasets} == {SPLIT_FILES[bench]}
    evaluator = cfg.test_evaluator
    assert evaluator.type == 'MultiDatasetsEvaluator'
    assert evaluator.dataset_prefixes == [f'{bench}_{s}' for s in splits]
    assert [m.type for m in evaluator.metrics] == [metric_type] * len(splits)
    if metric_type == 'ReferringSegMetric':
        assert all(m.metric == ['cIoU', 'gIoU'] for m in evaluator.metrics)
    step = next(s for s in datasets[0].pipeline if s.type == 'BuildReferringConversation')
    assert step.to_dict() == dict(type='BuildReferringConversation', mode='test')


@pytest.fixture(scope='module')
def fixture_data(tmp_path_factory):
    """The RefCOCO family and gRefCOCO (val / testA / testB or val / test) in the real
    layout (desa2va_mm.testing.write_mini_mix) and ReasonSeg val / test (LabelMe files)."""
    from desa2va_mm.testing.mini_mix import write_mini_mix
    root = str(tmp_path_factory.mktemp('image_test_data'))
    write_mini_mix(root)
    spec = importlib.util.spec_from_file_location(
        'test_reason_seg_dataset',
        osp.join(REPO_ROOT, 'tests', 'test_datasets', 'test_reason_seg_dataset.py'))
    reason_seg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reason_seg)
    for split in ('val', 'test'):
        reason_seg.write_reason_seg(osp.join(root, 'data', 'reason_seg'), split)
    return root


def _test_dataset(cfg, root):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    for member in dataset_cfg.datasets:
        member.data_root = osp.join(root, member.data_root)
        # MMEngine's serialisation runs gc.collect() per dataset (~1 s in a test process).
        member.serialize_data = False
    return DATASETS.build(dataset_cfg)


@pytest.mark.parametrize('leaf', LEAVES)
def test_leaf_test_set_builds_on_real_layout_data(leaf, fixture_data):
    _, _, bench = _parts(leaf)
    dataset = _test_dataset(_load(leaf), fixture_data)
    sizes = [len(d) for d in dataset.datasets]
    assert len(sizes) == len(BENCHMARKS[bench][0]) and all(n > 0 for n in sizes), sizes
    assert dataset.metainfo['cumulative_sizes'][-1] == len(dataset)


@pytest.mark.parametrize('bench', sorted(BENCHMARKS))
def test_benchmark_samples_and_per_split_scores(bench, fixture_data):
    """One pass over the test set at real sizes (stand-in tokenizer): Sa2VA's prompt, ground
    truth at the original size; perfect masks on the first split only score 100 there and
    0 (or the no-target share) elsewhere, each split under its own prefix."""
    from mmengine.structures import InstanceData

    from desa2va_mm.registry import EVALUATOR
    splits, _, names = BENCHMARKS[bench]
    cfg = _load(f'sa2va_image_test/sa2va_1b_{bench}.py')
    dataset = _test_dataset(cfg, fixture_data)
    tokenizer = give_real_size_tokenizer(dataset)
    assert any(sample.get('is_sentence') for sample in (
        dataset[i]['data_samples'] for i in range(len(dataset)))) == (bench == 'reason_seg')
    evaluator = EVALUATOR.build(cfg.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    first_split = dataset.metainfo['cumulative_sizes'][0]
    seg = tokenizer.convert_tokens_to_ids('[SEG]')
    for idx in range(len(dataset)):
        sample = dataset[idx]['data_samples']
        gt = sample.gt_masks.to_tensor(torch.bool, 'cpu')
        assert gt.shape[1:] == sample.ori_shape and len(sample.input_ids) == len(gt)
        # The prompts are Sa2VA's evaluation question (or a ReasonSeg query as it is).
        tokenize = next(t for t in dataset.datasets[0].pipeline.transforms
                        if type(t).__name__ == 'TokenizeConversation')
        users = [('<image>\n' + text) if sample.get('is_sentence') else
                 f'<image>\n Please segment {text} in this image.' for text in sample.text]
        expected = tokenize({'prompts': [[dict(user=u, assistant=None)] for u in users],
                             'num_tiles': len(sample.pixel_values)})['input_ids']
        assert [ids.tolist() for ids in sample.input_ids] == [e.tolist() for e in expected]
        assert all(int((ids == seg).sum()) == 0 for ids in sample.input_ids)
        sample.pred_instances = InstanceData(
            masks=gt if idx < first_split else torch.zeros_like(gt))
        evaluator.process([sample.to_dict()], {})
    metrics = evaluator.evaluate(len(dataset))
    assert set(metrics) == {f'{bench}_{s}/{m}' for s in splits for m in names}
    assert metrics[f'{bench}_{splits[0]}/cIoU'] == pytest.approx(100.0)
    assert metrics[f'{bench}_{splits[0]}/gIoU'] == pytest.approx(100.0)
    for split in splits[1:]:
        assert metrics[f'{bench}_{split}/cIoU'] == 0.0
    if bench == 'grefcoco':
        assert metrics[f'{bench}_{splits[0]}/N-acc'] == pytest.approx(100.0)
        assert metrics[f'{bench}_{splits[0]}/T-acc'] == pytest.approx(100.0)
        assert metrics[f'{bench}_{splits[1]}/T-acc'] == 0.0


@pytest.fixture(scope='module')
def tiny_parts():
    import desa2va_mm  # noqa: F401
    init_default_scope('desa2va_mm')
    tiny = Config.fromfile(osp.join(CONFIGS, '_base_/models/desa2va_tiny.py')).model
    return tiny.mllm, tiny.grounding_encoder


@pytest.mark.parametrize('leaf', [leaf for leaf in LEAVES if leaf.endswith('_refcoco.py')])
def test_leaf_model_is_the_right_architecture(leaf, tiny_parts):
    """The leaf's own seg head, settings and preprocessor around the tiny MLLM and SAM-2
    (real-size weights are never built in the fast lane)."""
    from desa2va_mm.registry import MODELS
    model_cfg = copy.deepcopy(_load(leaf).model)
    model_cfg.mllm, model_cfg.grounding_encoder = copy.deepcopy(tiny_parts)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).eval()
    assert type(model).__name__ == 'DeSa2VA'
    assert type(model.data_preprocessor).__name__ == 'VideoReferringDataPreprocessor'
    if leaf.startswith('desa2va'):
        assert type(model.seg_head).__name__ == 'DecoupledSegHead'
        assert model.train_phase == 'fusion'
        assert model.seg_head.settings == dict(reprompt_iters=1, reprompt_iou_threshold=None)
        assert {'text_head', 'visual_head', 'fusion'} <= set(dict(model.seg_head.named_children()))
    else:
        assert type(model.seg_head).__name__ == 'Sa2VASegHead'
        assert {'text_hidden_fcs', 'mask_head'} <= set(dict(model.seg_head.named_children()))
