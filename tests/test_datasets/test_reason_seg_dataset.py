"""ReasonSegDataset on LabelMe-style fixture files; the ignore region leaves the metric."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope


def write_reason_seg(root, split='val'):
    """Two 20x30 images: one with a target and an ignore region inside it, one plain."""
    folder = osp.join(str(root), 'ReasonSeg', split)
    os.makedirs(folder, exist_ok=True)
    annos = {
        'a': dict(text=['the thing people sit on', 'a second query'], is_sentence=True,
                  imageHeight=20, imageWidth=30,
                  shapes=[dict(label='target', points=[[2, 2], [11, 2], [11, 11], [2, 11]]),
                          dict(label='ignore', points=[[4, 4], [6, 4], [6, 6], [4, 6]])]),
        'b': dict(text=['what holds the water'], is_sentence=False,
                  shapes=[dict(label='target', points=[[20, 10], [25, 10], [25, 15], [20, 15]]),
                          dict(label='flag', points=[[0, 0], [1, 0], [1, 1]])]),
    }
    for name, anno in annos.items():
        cv2.imwrite(osp.join(folder, f'{name}.jpg'), np.zeros((20, 30, 3), np.uint8))
        json.dump(anno, open(osp.join(folder, f'{name}.json'), 'w'))
    return str(root)


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    dict(type='LoadReferringMasks', with_ignore=True),
]


def _build(root, test_mode=True, pipeline=PIPELINE, split='val'):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(dict(type='ReasonSegDataset', data_root=root,
                               data_prefix=dict(img_path=f'ReasonSeg/{split}/'),
                               test_mode=test_mode, pipeline=list(pipeline)))


def test_loader_queries_masks_and_ignore(tmp_path):
    root = write_reason_seg(tmp_path)
    ds = _build(root)
    assert len(ds) == 2
    a = ds[0]
    assert a['text'] == ['the thing people sit on']  # LISA scores the first query only
    target, ignore = a['gt_masks'].masks[0], a['gt_ignore_masks'].masks[0]
    assert ignore.sum() == 9 and ignore[4:7, 4:7].all()  # 3x3 ignore square
    assert target.sum() == 100 - 9 and not (target & ignore).any()  # 10x10 minus the hole
    assert ds.get_data_info(0)['is_sentence'] is True
    b = ds[1]
    assert b['gt_masks'].masks[0].sum() == 36 and b['gt_ignore_masks'].masks.sum() == 0
    # Training keeps every query (drawn anew each iteration by SampleReferringTargets).
    train = _build(root, test_mode=False, pipeline=[])
    assert train.get_data_info(0)['instances'][0]['sentences'] == [
        'the thing people sit on', 'a second query']


def test_metric_excludes_ignore_pixels(tmp_path):
    from mmdet.structures.mask import BitmapMasks

    from desa2va_mm.evaluation import ReferringSegMetric
    root = write_reason_seg(tmp_path)
    a = _build(root)[0]
    gt, ignore = a['gt_masks'], a['gt_ignore_masks']
    # Predict the whole 10x10 square plus a 2-pixel false positive outside it.
    pred = np.zeros((1, 20, 30), bool)
    pred[0, 2:12, 2:12] = True
    pred[0, 15, 0:2] = True
    sample = dict(pred_instances=dict(masks=torch.from_numpy(pred)), gt_masks=gt,
                  gt_ignore_masks=ignore, img_path='a.jpg')
    metric = ReferringSegMetric(metric=['cIoU', 'gIoU'])
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    # Ignore pixels (9) count nowhere: I = 91, U = 91 + 2. Without the ignore mask the
    # prediction's 9 ignore pixels would be false positives: 91 / 102.
    assert res['cIoU'] == pytest.approx(100 * 91 / 93)
    assert res['gIoU'] == pytest.approx(100 * 91 / 93)
    plain = ReferringSegMetric(metric=['cIoU'])
    plain.process({}, [{k: v for k, v in sample.items() if k != 'gt_ignore_masks'}])
    assert plain.compute_metrics(plain.results)['cIoU'] == pytest.approx(100 * 91 / 102)
    bad = dict(sample, gt_ignore_masks=BitmapMasks(np.zeros((1, 5, 5), np.uint8), 5, 5))
    with pytest.raises(ValueError, match='a.jpg: ignore masks'):
        metric.process({}, [bad])


def test_bad_files_name_the_sample(tmp_path):
    root = write_reason_seg(tmp_path)
    folder = osp.join(root, 'ReasonSeg', 'val')
    anno = json.load(open(osp.join(folder, 'b.json')))
    anno['shapes'] = [s for s in anno['shapes'] if s['label'] != 'target']
    json.dump(anno, open(osp.join(folder, 'b.json'), 'w'))
    with pytest.raises(ValueError, match=r'b\.json: the query names no object'):
        _build(root)
    os.remove(osp.join(folder, 'b.json'))
    with pytest.raises(FileNotFoundError, match=r'b\.jpg: its annotation .*b\.json'):
        _build(root)
    os.remove(osp.join(folder, 'b.jpg'))
    with open(osp.join(folder, 'a.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    with pytest.raises(Exception, match=r'a\.jpg'):
        _build(root)[0]
