"""Every leaf config: re-prompting set once on the model (and reachable with --cfg-options),
the data-fault guards of real-size training, and thin test-only video leaves."""
import ast
import copy
import glob
import inspect
import os.path as osp
import re

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT

CONFIGS = osp.join(REPO_ROOT, 'configs')
LEAVES = sorted(osp.relpath(path, CONFIGS) for family in ('desa2va', 'desa2va_video', 'sa2va')
                for path in glob.glob(osp.join(CONFIGS, family, '*.py')))
#: Leaves whose model is a DeSa2VA with a DecoupledSegHead (checked by the tests below).
DECOUPLED = [leaf for leaf in LEAVES
             if leaf.startswith('desa2va') and not leaf.endswith('_sam_pretrain.py')]
REAL_SIZE_TRAINING = [leaf for leaf in LEAVES
                      if leaf.split('/')[0] in ('desa2va', 'sa2va') and 'tiny' not in leaf]
VIDEO_TEST = [leaf for leaf in LEAVES
              if re.fullmatch(r'desa2va_video/desa2va_[148]b_\w+\.py', leaf)]

#: What a hook must not contain to leave the re-prompting settings alone.
TOUCHES_SETTINGS = re.compile(r'reprompt|\b(train|test)_cfg\b')


def _load(leaf: str) -> Config:
    return Config.fromfile(osp.join(CONFIGS, leaf))


def _is_decoupled(cfg: Config) -> bool:
    model = cfg.get('model') or {}
    return model.get('type') == 'DeSa2VA' and \
        (model.get('seg_head') or {}).get('type') == 'DecoupledSegHead'


def _touches_settings(hook_cls) -> bool:
    return TOUCHES_SETTINGS.search(inspect.getsource(hook_cls)) is not None


@pytest.fixture(scope='module')
def tiny_parts():
    """The tiny MLLM and SAM-2 configs: a leaf's model is built around them (its seg head,
    train_cfg, test_cfg, tracker and preprocessor are the leaf's own) in under a second."""
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    init_default_scope('desa2va_mm')
    tiny = Config.fromfile(osp.join(CONFIGS, '_base_/models/desa2va_tiny.py')).model
    return tiny.mllm, tiny.grounding_encoder


def _build_cheap(model_cfg, tiny_parts):
    import torch

    from desa2va_mm.registry import MODELS
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.mllm, model_cfg.grounding_encoder = copy.deepcopy(tiny_parts)
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def test_the_leaf_lists_cover_every_family():
    assert len(LEAVES) >= 40 and len(DECOUPLED) >= 30
    assert {leaf.split('/')[0] for leaf in DECOUPLED} == {'desa2va', 'desa2va_video'}
    assert len(VIDEO_TEST) == 15 and len(REAL_SIZE_TRAINING) >= 18


@pytest.mark.parametrize('leaf', DECOUPLED)
def test_cfg_options_set_the_reprompt_settings_the_model_uses(leaf, tiny_parts):
    cfg = _load(leaf)
    assert _is_decoupled(cfg), leaf
    train_iters = 1 if leaf.endswith('_fusion.py') else 0  # phase 3 re-prompts in training
    assert cfg.model.train_cfg.to_dict() == dict(reprompt_iters=train_iters)
    # The tiny phase-2 / phase-3 leaves test without re-prompting (it lowers the tiny
    # model's cIoU); every real-size leaf keeps the paper's single round.
    tiny = re.fullmatch(r'desa2va/desa2va_tiny_(decouple|fusion)\.py', leaf) is not None
    assert cfg.model.test_cfg.to_dict() == dict(reprompt_iters=0 if tiny else 1,
                                                reprompt_iou_threshold=None)
    # As --cfg-options merges them (tools/train.py, tools/test.py).
    cfg.merge_from_dict({'model.test_cfg.reprompt_iters': 0,
                         'model.test_cfg.reprompt_iou_threshold': 0.7})
    model = _build_cheap(cfg.model, tiny_parts)
    assert model.eval().seg_head.settings == dict(reprompt_iters=0, reprompt_iou_threshold=0.7)
    assert model.train().seg_head.settings == dict(reprompt_iters=train_iters)
    # Nothing a runner would run before a loop rewrites them.
    from desa2va_mm.registry import HOOKS
    hooks = [h['type'] for h in cfg.get('custom_hooks') or []]
    hooks += [h['type'] for h in (cfg.get('default_hooks') or {}).values() if h]
    assert 'RepromptHook' not in hooks
    assert [h for h in hooks if _touches_settings(HOOKS.get(h))] == [], leaf


def test_the_hook_check_flags_a_hook_that_sets_reprompting():
    class SetsReprompting:
        def before_test(self, runner):
            runner.model.seg_head.test_cfg['reprompt_iters'] = 2

    from desa2va_mm.registry import HOOKS
    assert _touches_settings(SetsReprompting)
    assert not _touches_settings(HOOKS.get('GradReversalScheduleHook'))


def test_other_leaves_have_no_reprompt_settings():
    for leaf in sorted(set(LEAVES) - set(DECOUPLED)):
        cfg = _load(leaf)
        assert not _is_decoupled(cfg), leaf
        assert 'train_cfg' not in cfg.model and 'test_cfg' not in cfg.model, leaf


def test_old_and_unknown_reprompt_keys_fail_loudly(tiny_parts):
    cfg = _load('desa2va/desa2va_tiny_decouple.py')
    for option, new in (('model.seg_head.reprompt_iters_test', 'model.test_cfg.reprompt_iters'),
                        ('model.seg_head.reprompt_iters_train',
                         'model.train_cfg.reprompt_iters'),
                        ('model.seg_head.reprompt_iou_threshold',
                         'model.test_cfg.reprompt_iou_threshold')):
        old = copy.deepcopy(cfg)
        old.merge_from_dict({option: 0})
        with pytest.raises(TypeError, match=re.escape(f'{option} -> {new}')):
            _build_cheap(old.model, tiny_parts)
    typo = copy.deepcopy(cfg)
    typo.merge_from_dict({'model.test_cfg.reprompt_iter': 0})
    with pytest.raises(ValueError, match=re.escape(
            "model.test_cfg.reprompt_iter: DecoupledSegHead has no such setting "
            "(model.test_cfg keys: ['reprompt_iou_threshold', 'reprompt_iters'])")):
        _build_cheap(typo.model, tiny_parts)


@pytest.mark.parametrize('leaf', REAL_SIZE_TRAINING)
def test_real_size_training_data_is_guarded(leaf):
    loader = _load(leaf).train_dataloader
    assert loader.dataset.type == 'SkipBadSamples', leaf
    assert loader.dataset.max_bad_samples == 100
    assert loader.dataset.dataset.type == 'ConcatDataset'
    assert 0 < loader.timeout <= 600  # below the 10 min collective timeout
    if leaf.endswith('_pretrain.py'):
        # Phase 1 swaps only the mix inside the wrapper: referring images only.
        members = loader.dataset.dataset.datasets
        assert [m.type for m in members] == ['RefCocoReferringDataset'] * 3
        assert [m.ann_file for m in members] == [f'{name}/instances.json' for name in
                                                 ('refcoco', 'refcoco+', 'refcocog')]


@pytest.mark.parametrize('leaf', VIDEO_TEST)
def test_video_test_leaves_are_their_model_on_their_benchmark(leaf):
    size, bench = re.fullmatch(r'desa2va_video/desa2va_(\w+?)_(\w+)\.py', leaf).groups()
    with open(osp.join(CONFIGS, leaf), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    assigned = {node.targets[0].id: ast.unparse(node.value) for node in tree.body}
    # The leaf: its bases and the phase whose network it tests, nothing else.
    assert assigned == {'_base_': str([f'../_base_/models/desa2va_{size}.py',
                                       f'../_base_/video_test/{bench}.py']),
                        'model': "dict(train_phase='fusion')"}
    cfg = _load(leaf).to_dict()
    model_base = Config.fromfile(osp.join(CONFIGS, f'_base_/models/desa2va_{size}.py'))
    bench_base = Config.fromfile(osp.join(CONFIGS, f'_base_/video_test/{bench}.py'))
    assert cfg['model'] == dict(model_base.model.to_dict(), train_phase='fusion')
    rest = {k: v for k, v in cfg.items() if k not in model_base}
    assert rest == bench_base.to_dict()
    assert cfg['train_dataloader'] is None and cfg['val_dataloader'] is None
    assert cfg['val_evaluator'] is None and cfg['test_cfg'] == dict(type='TestLoop')
    assert cfg['test_dataloader']['dataset']['test_mode'] is True
    assert 'custom_hooks' not in cfg


#: Sa2VA-baseline video test leaves (configs/sa2va_video/): 3 sizes x 5 benchmarks.
SA2VA_VIDEO_TEST = sorted(osp.relpath(path, CONFIGS) for path in
                          glob.glob(osp.join(CONFIGS, 'sa2va_video', '*.py')))
VIDEO_BENCHMARKS = ('mevis_valid_u', 'mevis_valid', 'ref_ytvos', 'ref_davis17', 'revos')
#: Dataset and test metric / writer each benchmark base gives.
VIDEO_TEST_PARTS = {
    'mevis_valid_u': ('MeViSDataset', 'VideoJFMetric'),
    'mevis_valid': ('MeViSDataset', 'VideoSubmissionWriter'),
    'ref_ytvos': ('RefYTVOSDataset', 'VideoSubmissionWriter'),
    'ref_davis17': ('RefDAVISDataset', 'VideoJFMetric'),
    'revos': ('ReVOSDataset', 'ReVOSMetric'),
}


def test_sa2va_video_leaves_cover_every_size_and_benchmark():
    assert SA2VA_VIDEO_TEST == sorted(f'sa2va_video/sa2va_{size}_{bench}.py'
                                      for size in ('1b', '4b', '8b')
                                      for bench in VIDEO_BENCHMARKS)


@pytest.mark.parametrize('leaf', SA2VA_VIDEO_TEST)
def test_sa2va_video_leaves_are_the_baseline_on_their_benchmark(leaf, tiny_parts):
    size, bench = re.fullmatch(r'sa2va_video/sa2va_(\w+?)_(\w+)\.py', leaf).groups()
    with open(osp.join(CONFIGS, leaf), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    assigned = {node.targets[0].id: ast.unparse(node.value) for node in tree.body}
    # Only the bases: the network of configs/sa2va/sa2va_<size>.py on the benchmark.
    assert assigned == {'_base_': str([f'../_base_/models/sa2va_{size}.py',
                                       f'../_base_/video_test/{bench}.py'])}
    cfg = _load(leaf)
    model_base = Config.fromfile(osp.join(CONFIGS, f'_base_/models/sa2va_{size}.py'))
    bench_base = Config.fromfile(osp.join(CONFIGS, f'_base_/video_test/{bench}.py'))
    assert cfg.model.to_dict() == model_base.model.to_dict()
    assert {k: v for k, v in cfg.to_dict().items() if k not in model_base} == \
        bench_base.to_dict()
    assert cfg.train_dataloader is None and cfg.val_dataloader is None
    assert cfg.test_cfg == dict(type='TestLoop')
    dataset_type, evaluator_type = VIDEO_TEST_PARTS[bench]
    assert cfg.test_evaluator.type == evaluator_type
    # The test dataset builds (annotations are read lazily: no data is needed here).
    from desa2va_mm.registry import DATASETS
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset.to_dict(), lazy_init=True))
    assert type(dataset).__name__ == dataset_type and dataset.test_mode
    # The model: Sa2VA's seg head and Sa2VA's video inference (real-size MLLM and SAM-2
    # replaced by the tiny ones; the seg head, tracker and preprocessor are the leaf's).
    assert cfg.model.video_tracker.to_dict() == dict(
        type='SAM2VideoTracker', track_with_seg_prompt=False, object_score_source='none')
    model = _build_cheap(cfg.model, tiny_parts)
    assert type(model.seg_head).__name__ == 'Sa2VASegHead'
    assert model.seg_head.mask_head.multimask_output
    assert model.video_tracker.is_sa2va_mode
    assert model.video_tracker.grounding is model.grounding_encoder


def test_model_bases_set_their_video_mode():
    # Every Sa2VA-baseline base runs Sa2VA's video inference; DeSa2VA's bases set their own
    # mode explicitly (docs/method.md §12).
    bases = sorted(glob.glob(osp.join(CONFIGS, '_base_/models/*.py')))
    sa2va = [b for b in bases if osp.basename(b).startswith('sa2va_')]
    desa2va = [b for b in bases if osp.basename(b).startswith('desa2va_')
               and osp.basename(b) != 'desa2va_real_size_heads.py']
    assert len(sa2va) == 7 and len(desa2va) == 7
    for base in sa2va:
        tracker = Config.fromfile(base).model.video_tracker.to_dict()
        assert tracker == dict(type='SAM2VideoTracker', track_with_seg_prompt=False,
                               object_score_source='none'), base
    for base in desa2va:
        assert Config.fromfile(base).model.video_tracker.type == 'SAM2VideoTracker', base
