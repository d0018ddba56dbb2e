"""The bad-input corpus (``tests/data/make_bad_inputs.py``): each broken file or text either
loads correctly or fails with an error naming the sample; ``SkipBadSamples`` logs and
skips the failures during training and gives up after ``max_bad_samples``.

The corpus is generated (~1 s) into a temporary folder per session (the script's own default,
for manual runs, is the git-ignored ``tests/data/bad_inputs/``). Every case below is listed
with its documented outcome in docs/reliability.md.
"""
import copy
import logging
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, load_tiny_cfg

sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'data'))
from make_bad_inputs import (SPECIAL_EXPRESSION, _good_image,  # noqa: E402
                             make_bad_inputs)

sys.path.pop(0)


#: case -> (outcome, what the error must mention) for the image datasets; 'ok' = loads.
REFCOCO_CASES = {
    'image_good': ('ok', None),
    'image_truncated': ('error', 'is a truncated JPEG'),
    'image_zero_byte': ('error', 'is empty (0 bytes)'),
    'image_alpha': ('ok', None),
    'image_uint16': ('ok', None),
    'image_gray': ('ok', None),
    'image_one_by_one': ('ok', None),
    'image_huge': ('ok', None),
    'rle_wrong_size': ('error', 'RLE of size [32, 32] on an image of size [64, 64]'),
    'polygon_outside': ('ok', None),
    'expr_non_utf8': ('error', 'expression 0 is not UTF-8 text'),
    'expr_empty': ('error', 'expression 0 is empty'),
    'expr_long': ('error', 'the first turn needs more than max_length=256'),
    'expr_special_tokens': ('ok', None),
}


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    """The corpus in a fresh folder per test session (``tests/data/bad_inputs/`` is the
    script's default for manual runs; a shared folder would be clobbered by parallel runs)."""
    root = str(tmp_path_factory.mktemp('bad_inputs'))
    return dict(make_bad_inputs(root), root=root)


def _pipeline(cfg, split):
    """The tiny config's pipeline with the real configs' mask loader."""
    pipeline = copy.deepcopy(cfg[split].dataset.pipeline)
    for i, step in enumerate(pipeline):
        if step['type'] == 'LoadAnnotations':
            pipeline[i] = dict(type='LoadReferringMasks')
    return pipeline


def _dataset(corpus, split='train_dataloader', split_file='refcoco/refs(unc).p', wrap=None):
    import desa2va_mm  # noqa: F401
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    cfg = load_tiny_cfg(osp.join(corpus['root'], 'refcoco'))
    ds_cfg = dict(cfg[split].dataset, split='train', split_file=split_file,
                  pipeline=_pipeline(cfg, split))
    if wrap is not None:
        ds_cfg = dict(wrap, dataset=ds_cfg)
    return DATASETS.build(ds_cfg)


def _index(dataset, corpus, case):
    img_id = corpus['refcoco'][case]['img_id']
    inner = getattr(dataset, 'dataset', dataset)
    for i in range(len(inner)):
        if inner.get_data_info(i)['img_id'] == img_id:
            return i
    raise KeyError(case)


@pytest.mark.parametrize('split', ['train_dataloader', 'test_dataloader'])
def test_refcoco_cases(corpus, split):
    dataset = _dataset(corpus, split)
    assert len(dataset) == len(REFCOCO_CASES) == len(corpus['refcoco'])
    for case, (outcome, words) in REFCOCO_CASES.items():
        if split == 'test_dataloader' and case == 'expr_long':
            outcome = 'ok'  # evaluation shortens the prompt instead (with a warning)
        if split == 'test_dataloader' and case == 'image_huge':
            continue  # ~7 s per load of 100 Mpx; the training pipeline covers it
        index = _index(dataset, corpus, case)
        file_name = corpus['refcoco'][case]['file_name']
        if outcome == 'error':
            with pytest.raises(Exception) as err:
                dataset[index]
            assert words in str(err.value), (case, str(err.value))
            assert file_name in str(err.value), (case, str(err.value))
            continue
        with pytest.warns(UserWarning, match='shortened') if case == 'expr_long' \
                and split == 'test_dataloader' else _nothing():
            sample = dataset[index]
        _check_loaded(case, sample, split, dataset)


class _nothing:

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def sample_ids(sample) -> torch.Tensor:
    """Every token id of a packed sample (all its sequences)."""
    return torch.cat(list(sample['data_samples'].input_ids))


def _check_loaded(case, sample, split, dataset):
    data_sample = sample['data_samples']
    image = sample['inputs']
    assert image.dtype == torch.uint8 and image.shape == (3, 128, 128), (case, image.shape)
    expected = {'image_one_by_one': (1, 1), 'image_huge': (10000, 10000)}.get(case, (64, 64))
    assert tuple(data_sample.metainfo['ori_shape']) == expected, case
    tokenizer = dataset.pipeline.transforms[-2].tokenizer
    seg_id, ctx_id = tokenizer.convert_tokens_to_ids(['[SEG]', '<IMG_CONTEXT>'])
    ids = sample_ids(sample)
    # exactly one [SEG] (the answer's; none in a test prompt) and 16 image tokens,
    # whatever the user typed
    assert int((ids == seg_id).sum()) == (1 if split == 'train_dataloader' else 0), case
    assert int((ids == ctx_id).sum()) == 16, case
    if split == 'test_dataloader':
        masks = data_sample.metainfo['gt_masks']
        masks = masks.masks if hasattr(masks, 'masks') else np.asarray(masks)
        assert masks.shape == (1, ) + expected, case
        if case == 'polygon_outside':
            assert masks.sum() == 0  # clipped to the image: an empty target
        elif case != 'image_one_by_one':
            # the box polygon (w/4 .. 3w/4): about a quarter of the image
            assert 0.2 < masks.mean() < 0.3, (case, masks.mean())


def test_special_tokens_in_expressions_stay_text(corpus):
    """``[SEG]`` / ``<IMG_CONTEXT>`` / chat markers typed in an expression do not become
    control tokens: the sequence has the same special-token counts as a clean one."""
    dataset = _dataset(corpus)
    tokenizer = dataset.pipeline.transforms[-2].tokenizer
    special = tokenizer.convert_tokens_to_ids(
        ['[SEG]', '<IMG_CONTEXT>', '<img>', '</img>', '<|im_start|>', '<|im_end|>'])
    bad = sample_ids(dataset[_index(dataset, corpus, 'expr_special_tokens')])
    good = sample_ids(dataset[_index(dataset, corpus, 'image_good')])
    for token_id in special:
        assert int((bad == token_id).sum()) == int((good == token_id).sum()), token_id
    assert '[SEG]' in SPECIAL_EXPRESSION


def test_image_formats_decode_to_bgr_uint8(corpus):
    from desa2va_mm.datasets.transforms import LoadImageFromFile
    load = LoadImageFromFile()
    img_dir = osp.join(corpus['root'], 'images')
    good = _good_image()
    for name in ('alpha.png', 'uint16.png', 'gray.png'):
        img = load(dict(img_path=osp.join(img_dir, name)))['img']
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8, name
        if name == 'gray.png':
            assert (img[..., 0] == img[..., 1]).all()
        else:
            assert np.abs(img.astype(int) - good).max() <= 1, name
    huge = load(dict(img_path=osp.join(img_dir, 'huge.png')))['img']
    assert huge.shape == (10000, 10000, 3) and huge[5000, 5000, 0] == 200
    del huge
    from desa2va_mm.datasets.transforms import BadImageError
    with pytest.raises(BadImageError, match=r'10000 x 10000 pixels, more than max_pixels'):
        LoadImageFromFile(max_pixels=10**7)(dict(img_path=osp.join(img_dir, 'huge.png')))
    with pytest.raises(BadImageError, match='does not exist'):
        load(dict(img_path=osp.join(img_dir, 'no_such.jpg')))
    assert load(dict(img_path=osp.join(img_dir, 'good.jpg')))['img'].shape == (64, 64, 3)


def test_ref_to_missing_annotation_names_the_ref(corpus):
    with pytest.raises(ValueError, match=r'ref 999 points at annotation 12345'):
        _dataset(corpus, split_file='refcoco/refs(missing_ann).p')


def _mevis(corpus, case, pipeline=True):
    import desa2va_mm  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/synthetic_mevis_tiny.py'))
    return DATASETS.build(dict(type='MeViSDataset',
                               data_root=corpus['mevis'][case]['data_root'] + '/',
                               test_mode=True,
                               pipeline=cfg.test_pipeline if pipeline else []))


def test_mevis_cases(corpus):
    ok = _mevis(corpus, 'mevis_good')
    assert ok[0]['data_samples'].metainfo['video_id'] == 'vid0'
    with pytest.raises(ValueError) as err:
        _mevis(corpus, 'mevis_missing_field')
    assert 'meta_expressions.json' in str(err.value) and 'has no "exp" field' in str(err.value)
    assert "expression '0'" in str(err.value)
    with pytest.raises(ValueError) as err:
        _mevis(corpus, 'mevis_non_utf8')
    assert 'meta_expressions.json' in str(err.value) and 'not valid JSON' in str(err.value)
    missing = _mevis(corpus, 'mevis_missing_frame')
    with pytest.raises(FileNotFoundError) as err:
        missing[0]
    assert "video 'vid0'" in str(err.value) and '00001.jpg' in str(err.value)


# ---- training skip policy ------------------------------------------------------------
def _capture():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger.addHandler(handler)
    return logger, handler, records


def test_skip_bad_samples_logs_and_continues(corpus):
    from desa2va_mm.datasets import SkipBadSamples
    dataset = _dataset(corpus, wrap=dict(type='SkipBadSamples', max_bad_samples=20))
    assert isinstance(dataset, SkipBadSamples) and len(dataset) == len(REFCOCO_CASES)
    huge = _index(dataset, corpus, 'image_huge')  # slow to load; not needed here
    logger, handler, records = _capture()
    try:
        loaded = [dataset[i]['data_samples'].metainfo['img_id']
                  for i in range(len(dataset)) if i != huge]
    finally:
        logger.removeHandler(handler)
    bad = [c for c, (o, _) in REFCOCO_CASES.items() if o == 'error']
    skipped = [r for r in records if r.startswith('SkipBadSamples: skipped')]
    # a replacement can be bad too (the bad cases sit next to each other): every failed
    # load is logged and counted
    assert dataset.num_bad_samples == len(skipped) >= len(bad)
    for case in bad:
        name = corpus['refcoco'][case]['file_name']
        assert any(name in r for r in skipped), case
    good = {corpus['refcoco'][c]['file_name'] for c in REFCOCO_CASES if c not in bad}
    assert not any(name in r for r in skipped for name in good)
    bad_ids = {corpus['refcoco'][c]['img_id'] for c in bad}
    assert not bad_ids & set(loaded)  # every returned sample is a good one
    assert len(loaded) == len(dataset) - 1


def test_skip_bad_samples_gives_up(corpus):
    from desa2va_mm.datasets import BadSampleError
    dataset = _dataset(corpus, wrap=dict(type='SkipBadSamples', max_bad_samples=2))
    with pytest.raises(BadSampleError, match=r'more than max_bad_samples=2'):
        for i in range(len(dataset)):
            dataset[i]  # the three expression cases come first (sorted by name)
    # the three expression cases (indices 0-2) fail in a row
    in_a_row = _dataset(corpus, wrap=dict(type='SkipBadSamples', max_consecutive=3))
    with pytest.raises(BadSampleError, match=r'3 samples in a row failed to load from '
                       r'index 0 on; last: sample 2 \(img_path=.*expr_non_utf8.jpg\)'):
        in_a_row[0]
    strict = _dataset(corpus, wrap=dict(type='SkipBadSamples', max_bad_samples=0))
    index = _index(strict, corpus, 'image_zero_byte')
    with pytest.raises(BadSampleError) as err:
        strict[index]
    assert f'sample {index} (img_path=' in str(err.value)
    assert 'image_zero_byte.jpg' in str(err.value)


def test_skip_bad_samples_refuses_test_sets_and_bad_args(corpus):
    with pytest.raises(ValueError, match='test_mode=True'):
        _dataset(corpus, split='test_dataloader', wrap=dict(type='SkipBadSamples'))
    with pytest.raises(ValueError, match='max_bad_samples'):
        _dataset(corpus, wrap=dict(type='SkipBadSamples', max_bad_samples=-1))

