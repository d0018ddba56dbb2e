"""Shared fixtures: the synthetic RefCOCO set and tiny configs / models (built in < 1 s)."""
import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(scope='session')
def synthetic_refcoco(tmp_path_factory):
    """A 32-image synthetic RefCOCO-format dataset (seed 0); returns its root."""
    from desa2va_mm.synthetic import make_synthetic_refcoco
    root = str(tmp_path_factory.mktemp('synthetic_refcoco'))
    make_synthetic_refcoco(root, num_images=32, seed=0)
    return root


def load_tiny_cfg(data_root=None, config='configs/sa2va/sa2va_tiny.py'):
    """The tiny config with its data root pointed at ``data_root``."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    if data_root is not None:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].dataset.data_root = data_root + '/'
            cfg[key].num_workers = 0
            cfg[key].persistent_workers = False
    return cfg


@pytest.fixture
def tiny_cfg(synthetic_refcoco):
    return load_tiny_cfg(synthetic_refcoco)


@pytest.fixture
def tiny_model(tiny_cfg):
    import torch
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    torch.manual_seed(0)
    return MODELS.build(tiny_cfg.model)


def build_batch(cfg, split_loader='train_dataloader', indices=(0, 1)):
    """Run the config's pipeline on a few samples and collate them like the runner."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    dataset = DATASETS.build(cfg[split_loader].dataset)
    return pseudo_collate([dataset[i] for i in indices]), dataset


def give_real_size_tokenizer(dataset, stand_in_vocab_size=151674, template='qwen2'):
    """Hand a real-size pipeline (``tokenizer=None``) the tokenizer its model would build
    without weights (what ``ModelTokenizerHook`` does in a runner); returns the tokenizer."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.engine.hooks.model_tokenizer_hook import share_with_dataset
    from desa2va_mm.registry import TOKENIZERS
    tokenizer = TOKENIZERS.build(dict(type='InternVLTokenizer', path=None,
                                      stand_in_vocab_size=stand_in_vocab_size))
    share_with_dataset(dataset, tokenizer, template)
    return tokenizer
