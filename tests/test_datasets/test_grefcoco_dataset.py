"""GRefCocoDataset on a fixture in gRefCOCO's own format (grefs(unc).json + instances.json)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope


def _square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def write_grefcoco(root):
    """Two 40x60 images; refs: one single object, one multi-object (two objects + a crowd
    annotation that the union leaves out), one no-target, one in the train split."""
    root = str(root)
    img_dir = osp.join(root, 'train2014')
    ann_dir = osp.join(root, 'grefcoco')
    for d in (img_dir, ann_dir):
        os.makedirs(d, exist_ok=True)
    images = []
    for i in (1, 2):
        name = f'COCO_train2014_{i:012d}.jpg'
        cv2.imwrite(osp.join(img_dir, name), np.full((40, 60, 3), 40 * i, np.uint8))
        images.append(dict(id=i, file_name=name, height=40, width=60))
    anns = [
        dict(id=10, image_id=1, category_id=1, iscrowd=0, segmentation=_square(2, 2, 10, 10)),
        dict(id=11, image_id=1, category_id=1, iscrowd=0,
             segmentation=_square(30, 20, 40, 30)),
        dict(id=12, image_id=1, category_id=1, iscrowd=1,
             segmentation=dict(size=[40, 60], counts=[0, 2400])),  # whole image, crowd
        dict(id=20, image_id=2, category_id=2, iscrowd=0,
             segmentation=_square(5, 5, 15, 15)),
    ]
    refs = [
        dict(ref_id=0, image_id=1, ann_id=[10], split='val', no_target=False,
             category_id=[1], sentences=[dict(raw='Left Box', sent='left box', sent_id=0),
                                         dict(raw='', sent='', sent_id=1)]),
        dict(ref_id=1, image_id=1, ann_id=[10, 11, 12], split='val', no_target=False,
             category_id=[1], sentences=[dict(raw='all boxes', sent='all boxes', sent_id=2)]),
        dict(ref_id=2, image_id=2, ann_id=[-1], split='val', no_target=True,
             category_id=[-1], sentences=[dict(raw='the purple cat', sent='the purple cat',
                                               sent_id=3)]),
        dict(ref_id=3, image_id=2, ann_id=[20], split='train', no_target=False,
             category_id=[2], sentences=[dict(raw='a box', sent='a box', sent_id=4)]),
    ]
    json.dump(dict(images=images, annotations=anns, categories=[dict(id=1, name='a'),
                                                                dict(id=2, name='b')]),
              open(osp.join(ann_dir, 'instances.json'), 'w'))
    json.dump(refs, open(osp.join(ann_dir, 'grefs(unc).json'), 'w'))
    return root


def _build(root, split='val', pipeline=(), test_mode=True):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(dict(
        type='GRefCocoDataset', data_root=root, ann_file='grefcoco/instances.json',
        split_file='grefcoco/grefs(unc).json', data_prefix=dict(img_path='train2014/'),
        split=split, test_mode=test_mode, pipeline=list(pipeline)))


TEST_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    dict(type='LoadReferringMasks'),
]


def test_union_no_target_and_every_sentence(tmp_path):
    root = write_grefcoco(tmp_path)
    ds = _build(root, pipeline=TEST_PIPELINE)
    assert len(ds) == 2 and ds.num_sentences() == 3  # the empty raw sentence is skipped
    first = ds[0]
    assert first['text'] == ['left box', 'all boxes']
    masks = first['gt_masks'].masks
    assert masks.shape == (2, 40, 60)
    # Union of anns 10 and 11; the crowd annotation (the whole image) is left out.
    from desa2va_mm.datasets.transforms.load_referring_masks import decode_segmentation
    m10 = decode_segmentation(_square(2, 2, 10, 10), 40, 60, 'x')
    m11 = decode_segmentation(_square(30, 20, 40, 30), 40, 60, 'x')
    assert m10.sum() > 0 and m11.sum() > 0 and not (m10 & m11).any()
    np.testing.assert_array_equal(masks[0], m10)
    np.testing.assert_array_equal(masks[1], m10 | m11)
    second = ds[1]
    assert second['text'] == ['the purple cat'] and second['gt_masks'].masks.sum() == 0
    info = ds.get_data_info(1)['instances'][0]
    assert info['no_target'] and info['mask'] == []


def test_train_split_and_missing_annotation(tmp_path):
    root = write_grefcoco(tmp_path)
    assert len(_build(root, 'train', test_mode=False)) == 1
    refs = json.load(open(osp.join(root, 'grefcoco', 'grefs(unc).json')))
    refs[1]['ann_id'] = [10, 999]
    json.dump(refs, open(osp.join(root, 'grefcoco', 'grefs(unc).json'), 'w'))
    with pytest.raises(ValueError, match=r'ref 1 points at annotation\(s\) \[999\]'):
        _build(root)


def test_missing_split_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='split file'):
        _build(str(tmp_path))
