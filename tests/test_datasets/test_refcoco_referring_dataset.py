"""RefCocoReferringDataset: grouping, every sentence kept, safe split loading, clear errors."""
import os
import os.path as osp
import pickle
import shutil

import pytest
from mmengine.registry import init_default_scope

from conftest import load_tiny_cfg


def _build(root, split='val', pipeline=()):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(dict(
        type='RefCocoReferringDataset', data_root=root, ann_file='refcoco/instances.json',
        split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
        split=split, pipeline=list(pipeline)))


def test_every_sentence_of_every_ref_is_kept(synthetic_refcoco):
    from mmdet.datasets import RefCocoDataset
    ours = _build(synthetic_refcoco, 'val')
    mmdet_ds = RefCocoDataset(
        data_root=synthetic_refcoco, ann_file='refcoco/instances.json',
        split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
        split='val', text_mode='original', pipeline=[])
    refs = pickle.load(open(osp.join(synthetic_refcoco, 'refcoco/refs(unc).p'), 'rb'))
    val_sentences = sum(len(r['sentences']) for r in refs if r['split'] == 'val')
    assert ours.num_sentences() == val_sentences
    # Same sentences per image as mmdet's 'original' mode, grouped per object.
    theirs = {d['img_id']: sorted(d['text'])
              for d in (mmdet_ds.get_data_info(i) for i in range(len(mmdet_ds)))}
    for i in range(len(ours)):
        info = ours.get_data_info(i)
        sents = sorted(s for o in info['instances'] for s in o['sentences'])
        assert sents == theirs[info['img_id']]
        assert all({'mask', 'ann_id', 'ref_id', 'sentences'} <= set(o) for o in info['instances'])


def test_missing_data_root_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='split file'):
        _build(str(tmp_path / 'nowhere'))


def test_ref_pointing_at_missing_annotation(synthetic_refcoco, tmp_path):
    root = tmp_path / 'broken'
    shutil.copytree(synthetic_refcoco, root)
    path = root / 'refcoco' / 'refs(unc).p'
    refs = pickle.load(open(path, 'rb'))
    victim = next(r for r in refs if r['split'] == 'val')
    victim['ann_id'] = 987654321
    pickle.dump(refs, open(path, 'wb'))
    with pytest.raises(ValueError, match=f"ref {victim['ref_id']} points at annotation 987654321"):
        _build(str(root))


def test_split_file_with_code_is_refused(tmp_path):
    from desa2va_mm.datasets import load_refs

    class Payload:
        def __reduce__(self):
            return (os.system, (f'touch {tmp_path}/pwned', ))

    path = tmp_path / 'refs(unc).p'
    pickle.dump([{'ref_id': 1, 'x': Payload()}], open(path, 'wb'))
    with pytest.raises(ValueError, match='refusing global'):
        load_refs(str(path))
    assert not (tmp_path / 'pwned').exists()


def test_missing_and_unreadable_images_name_the_file(synthetic_refcoco, tmp_path):
    root = tmp_path / 'imgs'
    shutil.copytree(synthetic_refcoco, root)
    cfg = load_tiny_cfg(str(root))
    ds = _build(str(root), 'val', cfg.test_dataloader.dataset.pipeline)
    first, second = ds.get_data_info(0)['img_path'], ds.get_data_info(1)['img_path']
    os.remove(first)
    with pytest.raises(Exception, match=osp.basename(first)):
        ds[0]
    with open(second, 'wb') as f:
        f.write(b'not a jpeg at all')
    with pytest.raises(Exception, match=osp.basename(second)):
        ds[1]
