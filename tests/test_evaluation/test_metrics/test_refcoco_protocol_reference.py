"""RefCOCO evaluation text and cIoU against Sa2VA's own evaluation code.

Sa2VA's ``RESDataset`` (``projects/sa2va/evaluation/dataset/RES.py``) and the REFER API it
uses are imported from a fetched copy of bytedance/Sa2VA (see :mod:`reference_code`; the
tests skip without one) and run on a fixture in REFER's real format (``raw`` differs from
``sent``). Its ``evaluate`` moves masks to CUDA and calls ``torch.histc``; on this CPU-only
machine ``Tensor.cuda`` is patched to return the tensor as float on the CPU, which counts
the same pixels.
"""
import os
import os.path as osp
import pickle
import types

import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import init_default_scope
from pycocotools import mask as mask_utils
from reference_code import reference_module

SA2VA = 'bytedance/Sa2VA'
H, W = 20, 30


def _write_refer(root):
    """Two images, REFER's refs(unc).p: raw = the annotator's text, sent = tokenised."""
    import json

    import cv2
    os.makedirs(osp.join(root, 'refcoco'), exist_ok=True)
    os.makedirs(osp.join(root, 'train2014'), exist_ok=True)
    images, anns, refs = [], [], []
    texts = {1: [('The man on the left.', 'the man on the left'),
                 ("Man's shirt, blue", 'man s shirt blue')],
             2: [('Bowl (front)!', 'bowl front')]}
    for image_id in (1, 2):
        name = f'COCO_train2014_{image_id:012d}.jpg'
        cv2.imwrite(osp.join(root, 'train2014', name), np.zeros((H, W, 3), np.uint8))
        images.append(dict(id=image_id, file_name=name, height=H, width=W))
        x = 2 + 5 * image_id
        anns.append(dict(id=10 * image_id, image_id=image_id, category_id=1, iscrowd=0,
                         area=16, bbox=[x, 2, 4, 4],
                         segmentation=[[x, 2, x + 4, 2, x + 4, 6, x, 6]]))
        sentences = [dict(raw=raw, sent=sent, tokens=sent.split(), sent_id=10 * image_id + k)
                     for k, (raw, sent) in enumerate(texts[image_id])]
        refs.append(dict(ref_id=image_id, ann_id=10 * image_id, image_id=image_id,
                         split='val', category_id=1, file_name=name,
                         sent_ids=[s['sent_id'] for s in sentences], sentences=sentences))
    json.dump(dict(images=images, annotations=anns, categories=[dict(id=1, name='person')]),
              open(osp.join(root, 'refcoco', 'instances.json'), 'w'))
    pickle.dump(refs, open(osp.join(root, 'refcoco', 'refs(unc).p'), 'wb'), protocol=2)
    return str(root)


@pytest.fixture
def sa2va_res(tmp_path):
    """Sa2VA's RES.py module, its package imports served by the fetched files."""
    ref_dir = tmp_path / 'reference'
    ref_dir.mkdir()
    quiet = types.ModuleType('skimage')  # REFER imports skimage.io only to show images
    quiet.io = types.ModuleType('skimage.io')
    refer = reference_module(SA2VA, 'projects/sa2va/evaluation/utils/refcoco_refer.py',
                             str(ref_dir), stubs={'skimage': quiet, 'skimage.io': quiet.io})
    meters = reference_module(SA2VA, 'projects/sa2va/evaluation/utils/utils_refcoco.py',
                              str(ref_dir))
    utils = types.ModuleType('projects.sa2va.evaluation.utils')
    utils.REFER, utils.G_REFER = refer.REFER, None
    utils.Summary, utils.AverageMeter = meters.Summary, meters.AverageMeter
    utils.intersectionAndUnionGPU = meters.intersectionAndUnionGPU
    utils.master_only = lambda func: func  # one process
    stubs = {name: types.ModuleType(name)
             for name in ('projects', 'projects.sa2va', 'projects.sa2va.evaluation')}
    stubs['projects.sa2va.evaluation.utils'] = utils
    return reference_module(SA2VA, 'projects/sa2va/evaluation/dataset/RES.py', str(ref_dir),
                            stubs=stubs)


def test_evaluation_sentences_are_sa2vas(sa2va_res, tmp_path):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    root = _write_refer(tmp_path / 'data')
    theirs = sa2va_res.RESDataset(image_folder=osp.join(root, 'train2014'),
                                  dataset_name='refcoco', data_path=root, split='val')
    init_default_scope('desa2va_mm')
    ours = DATASETS.build(dict(
        type='RefCocoReferringDataset', data_root=root, ann_file='refcoco/instances.json',
        split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
        split='val', test_mode=True, pipeline=[]))
    their_texts = {d['image_info']['id']: d['selected_labels'] for d in theirs.json_datas}
    our_texts = {ours.get_data_info(i)['img_id']: [s for o in ours.get_data_info(i)['instances']
                                                   for s in o['sentences']]
                 for i in range(len(ours))}
    assert our_texts == their_texts == {1: ['the man on the left', 'man s shirt blue'],
                                        2: ['bowl front']}


def _rle_list(masks):
    out = []
    for m in masks:
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode()
        out.append(rle)
    return out


def _sa2va_ciou(module, monkeypatch, images):
    """Run Sa2VA's RESDataset.evaluate on [(preds or None per sentence, gts)] per image."""
    monkeypatch.setattr(torch.Tensor, 'cuda', lambda self, *a, **k: self.float(),
                        raising=False)
    results = [dict(prediction_masks=[None if p is None else _rle_list(p[None])
                                      for p in preds],
                    gt_masks=_rle_list(gts)) for preds, gts in images]
    fake_self = types.SimpleNamespace(dataset_name='refcoco', split='val')
    return 100 * float(module.RESDataset.evaluate(fake_self, results)['Acc'])


def _ours(images, **kwargs):
    from desa2va_mm.evaluation import ReferringSegMetric
    metric = ReferringSegMetric(**kwargs)
    for preds, gts in images:
        pred = np.stack([np.zeros_like(g) if p is None else p for p, g in zip(preds, gts)])
        metric.process({}, [{'pred_instances': {'masks': torch.from_numpy(pred.astype(bool))},
                             'gt_masks': BitmapMasks(gts.astype(np.uint8), H, W),
                             'img_path': 'x.jpg'}])
    return metric.compute_metrics(metric.results)['cIoU']


def test_ciou_is_sa2vas_including_an_all_empty_split(sa2va_res, monkeypatch):
    rng = np.random.default_rng(0)
    images = []
    for n in (2, 3):
        gts = rng.random((n, H, W)) < 0.3
        preds = [rng.random((H, W)) < 0.3 for _ in range(n)]
        preds[0] = None  # an answer without [SEG]
        images.append((preds, gts))
    assert _ours(images) == pytest.approx(_sa2va_ciou(sa2va_res, monkeypatch, images),
                                          rel=1e-8)
    empty = [([np.zeros((H, W), bool), None], np.zeros((2, H, W), bool))]
    assert _sa2va_ciou(sa2va_res, monkeypatch, empty) == 0.0
    assert _ours(empty) == 0.0
    assert _ours(empty, empty_split_ciou=100.0) == 100.0
