"""Registry scope, parentage (mmdet modules reachable) and the ``desa2va_mm.X`` route."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO_ROOT


def test_scope_and_parents():
    from mmdet.registry import MODELS as MMDET_MODELS

    from desa2va_mm.registry import DATASETS, METRICS, MODELS, TRANSFORMS, VISUALIZERS
    assert MODELS.scope == 'desa2va_mm' and MODELS.parent is MMDET_MODELS
    # mmdet modules are reused through the parent chain, ours are found locally.
    assert DATASETS.get('RefCocoDataset').__module__.startswith('mmdet')
    assert METRICS.get('RefSegMetric').__module__.startswith('mmdet')
    assert MODELS.get('DiceLoss').__module__.startswith('mmdet')
    assert MODELS.get('CrossEntropyLoss').__module__.startswith('mmdet')
    assert TRANSFORMS.get('PackDetInputs').__module__.startswith('mmdet')
    assert TRANSFORMS.get('LoadImageFromFile') is not None
    assert VISUALIZERS.get('DetLocalVisualizer').__module__.startswith('mmdet')
    for name in ('DeSa2VA', 'InternVLMLLM', 'SAM2Grounding', 'SAM2MaskHead',
                 'Sa2VAProjection', 'ReferringDataPreprocessor'):
        assert MODELS.get(name).__module__.startswith('desa2va_mm'), name
    assert DATASETS.get('RefCocoReferringDataset') is not None
    assert METRICS.get('ReferringSegMetric') is not None


def test_mmdet_scope_reaches_our_modules_with_prefix():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope

    import desa2va_mm  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        cls = MMDET_MODELS.get('desa2va_mm.Sa2VAProjection')
    assert cls.__module__.startswith('desa2va_mm')
    with DefaultScope.overwrite_default_scope('mmdet'):
        module = MMDET_MODELS.build(dict(type='desa2va_mm.Sa2VAProjection', in_channels=8,
                                         out_channels=4))
    assert module.mlp[2].out_features == 4


def test_sibling_scopes_reach_our_modules_with_prefix():
    """From MMEngine's root and from mmseg's scope (siblings of mmdet), ``desa2va_mm.X``
    resolves too, while our registries keep mmdet's as their parent."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import DATASETS, MODELS
    assert MODELS.parent is MMDET_MODELS
    assert ROOT_MODELS.get('desa2va_mm.Sa2VAProjection') is MODELS.get('Sa2VAProjection')
    from mmengine.registry import DATASETS as ROOT_DATASETS
    assert ROOT_DATASETS.get('desa2va_mm.GRefCocoDataset') is DATASETS.get('GRefCocoDataset')
    mmseg_registry = pytest.importorskip('mmseg.registry')
    with DefaultScope.overwrite_default_scope('mmseg'):
        module = mmseg_registry.MODELS.build(dict(type='desa2va_mm.Sa2VAProjection',
                                                  in_channels=8, out_channels=4))
        # mmseg's own modules stay mmseg's.
        assert mmseg_registry.MODELS.get('EncoderDecoder').__module__.startswith('mmseg')
    assert module.mlp[2].out_features == 4


def test_scope_is_the_package_name_so_mmengine_finds_its_registry():
    import importlib

    from desa2va_mm.registry import MODELS, SCOPE
    assert SCOPE == 'desa2va_mm'
    # MMEngine resolves a scope X by importing X.registry.
    assert importlib.import_module(f'{SCOPE}.registry').MODELS is MODELS


def test_mmdet_config_with_custom_imports(tmp_path):
    cfg_file = tmp_path / 'mmdet_style.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['desa2va_mm'], allow_failed_imports=False)\n"
        "default_scope = 'mmdet'\n"
        "neck = dict(type='desa2va_mm.Sa2VAProjection', in_channels=16, out_channels=8)\n")
    cfg = Config.fromfile(str(cfg_file))
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope
    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('mmdet'):
        neck = MMDET_MODELS.build(cfg.neck)
    assert type(neck).__name__ == 'Sa2VAProjection'


@pytest.mark.parametrize('config', sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '[!_]*', '*.py'))))
def test_every_leaf_config_parses_with_our_scope(config):
    cfg = Config.fromfile(config)
    assert cfg.default_scope == 'desa2va_mm'
    # DeSa2VA, or the tiny stage 0 (SAM2ClickPretrainer, no MLLM: no tokenizer to match).
    assert cfg.model.type in ('DeSa2VA', 'SAM2ClickPretrainer')
    # A pipeline either takes the model's tokenizer and template (None: real-size configs)
    # or names exactly the model's (tiny configs), which ModelTokenizerHook checks at run
    # time; the hook is in every config's default hooks.
    assert cfg.default_hooks.model_tokenizer.type == 'ModelTokenizerHook'
    if 'mllm' not in cfg.model:
        return
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:  # e.g. stage 0 has no validation
            continue
        dataset = cfg[loader].dataset
        members = dataset.get('datasets', [dataset])
        for member in members:
            member = member.get('dataset', member)
            for t in member.get('pipeline', []):
                if t['type'] == 'TokenizeConversation':
                    assert t['tokenizer'] in (None, cfg.model.mllm.tokenizer), (config, loader)
                    if t['tokenizer'] is None:
                        assert t['template'] is None, (config, loader)
