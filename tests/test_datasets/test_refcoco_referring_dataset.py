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


def _write_refer_fixture(root):
    """One 20x30 image, one ref in REFER's refs(unc).p form: ``raw`` is the annotator's
    text, ``sent`` its lower-case tokenised form (``' '.join(tokens)``)."""
    import json

    import cv2
    import numpy as np
    os.makedirs(osp.join(root, 'refcoco'), exist_ok=True)
    os.makedirs(osp.join(root, 'train2014'), exist_ok=True)
    name = 'COCO_train2014_000000000001.jpg'
    cv2.imwrite(osp.join(root, 'train2014', name), np.zeros((20, 30, 3), np.uint8))
    json.dump(dict(images=[dict(id=1, file_name=name, height=20, width=30)],
                   annotations=[dict(id=5, image_id=1, category_id=1, iscrowd=0, area=16,
                                     bbox=[2, 2, 4, 4],
                                     segmentation=[[2, 2, 6, 2, 6, 6, 2, 6]])],
                   categories=[dict(id=1, name='person')]),
              open(osp.join(root, 'refcoco', 'instances.json'), 'w'))
    sentences = [
        dict(raw='The man on the left.', sent='the man on the left',
             tokens=['the', 'man', 'on', 'the', 'left'], sent_id=0),
        dict(raw="Man's shirt, blue", sent='man s shirt blue',
             tokens=['man', 's', 'shirt', 'blue'], sent_id=1),
    ]
    refs = [dict(ref_id=0, ann_id=5, image_id=1, split=split, category_id=1, file_name=name,
                 sent_ids=[0, 1], sentences=sentences) for split in ('val', )]
    refs.append(dict(refs[0], ref_id=1, split='train'))
    pickle.dump(refs, open(osp.join(root, 'refcoco', 'refs(unc).p'), 'wb'), protocol=2)
    return str(root)


def _build_mode(root, split, **kwargs):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(dict(
        type='RefCocoReferringDataset', data_root=root, ann_file='refcoco/instances.json',
        split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
        split=split, pipeline=[], **kwargs))


def test_evaluation_reads_sent_and_training_raw_lower(tmp_path):
    root = _write_refer_fixture(tmp_path)
    # Sa2VA's RefCOCO evaluation (RESDataset) prompts with each sentence's sent field,
    # verbatim; mmdet's RefCocoDataset and Sa2VA's training read raw.lower().
    val = _build_mode(root, 'val', test_mode=True)
    assert val.text_field == 'sent'
    assert val.get_data_info(0)['instances'][0]['sentences'] == [
        'the man on the left', 'man s shirt blue']
    train = _build_mode(root, 'train')
    assert train.text_field == 'raw'
    assert train.get_data_info(0)['instances'][0]['sentences'] == [
        'the man on the left.', "man's shirt, blue"]
    # Either field can be chosen explicitly, whatever the mode.
    raw_eval = _build_mode(root, 'val', test_mode=True, text_field='raw')
    assert raw_eval.get_data_info(0)['instances'][0]['sentences'][0] == 'the man on the left.'
    sent_train = _build_mode(root, 'train', text_field='sent')
    assert sent_train.get_data_info(0)['instances'][0]['sentences'][1] == 'man s shirt blue'


def test_evaluation_prompt_is_the_tokenised_sentence(tmp_path):
    from desa2va_mm.registry import TRANSFORMS
    root = _write_refer_fixture(tmp_path)
    val = _build_mode(root, 'val', test_mode=True)
    results = TRANSFORMS.build(dict(type='SampleReferringTargets', mode='all'))(
        val.get_data_info(0))
    results = TRANSFORMS.build(dict(type='BuildReferringConversation', mode='test'))(results)
    assert [p[0]['user'] for p in results['prompts']] == [
        # Sa2VA's evaluation question (its evaluation/dataset/RES.py, line 167).
        '<image>\n Please segment the man on the left in this image.',
        '<image>\n Please segment man s shirt blue in this image.']


def test_text_field_errors_name_the_option_and_file(tmp_path):
    root = _write_refer_fixture(tmp_path)
    with pytest.raises(ValueError, match="text_field must be one of .*'tokens'"):
        _build_mode(root, 'val', text_field='tokens')
    refs = pickle.load(open(osp.join(root, 'refcoco', 'refs(unc).p'), 'rb'))
    for ref in refs:
        for sent in ref['sentences']:
            sent.pop('sent', None)  # the train ref shares these dicts
    pickle.dump(refs, open(osp.join(root, 'refcoco', 'refs(unc).p'), 'wb'))
    with pytest.raises(ValueError, match=r"refs\(unc\)\.p: ref 0: a sentence has no 'sent' "
                                         r"field .*set the dataset's text_field"):
        _build_mode(root, 'val', test_mode=True)
    assert _build_mode(root, 'val', test_mode=True, text_field='raw').num_sentences() == 2
