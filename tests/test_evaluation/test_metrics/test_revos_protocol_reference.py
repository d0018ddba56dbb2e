"""ReVOSDataset + ReVOSMetric against VISA's ``tools/eval_revos.py`` run as a script.

A ReVOS release in its real format is written (a nested video id, two overlapping objects
named by one expression, a ``type_id`` 2 expression, the foreground file); VISA's evaluator
is run from a fetched copy of cilinyan/VISA (see :mod:`reference_code`; skipped without
one) on the same ground truth and on 0 / 1 PNG predictions, and its JSON is compared with
our metric's output. Test-time changes to the script: one worker in this process instead of
128 (its queue from a ``multiprocessing`` manager), ``pandas`` (its CSV dump only) and
``termcolor`` replaced by stand-ins, and ``skimage.morphology.disk`` (not installed here)
given by its definition ``x^2 + y^2 <= r^2``.
"""
import json
import os
import os.path as osp
import runpy
import sys
import types

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from reference_code import reference_source
from video_metric_utils import rle

H, W = 24, 32
VIDEO = 'UVO/all/clip-1'  # ReVOS video ids contain '/'
FRAMES = ['00000', '00005', '00010']


def _objects(t):
    a, b, c = (np.zeros((H, W), np.uint8) for _ in range(3))
    a[2:10, 2 + t:14 + t] = 1
    b[4:12, 10:20] = 1  # overlaps a
    c[14:22, 4:28] = 1
    return a, b, c


def _predictions(t):
    a, b, c = _objects(t)
    p0 = np.zeros((H, W), np.uint8)
    p0[3:11, 6:18] = 1  # much of a | b, including overlap pixels
    p0[0, 0:3 + t] = 1  # a few false positives
    p1 = a.copy()
    p1[2:4, :] = 0  # part of object a
    p2 = np.zeros((H, W), np.uint8)
    p2[15:20, 4:20] = 1
    return [p0, p1, p2]


def _write_revos(root):
    exps = {'0': dict(exp='the two boxes', anno_id=[1, 2], obj_id=[0, 1], type_id=0),
            '1': dict(exp='what a child would draw first', anno_id=[1], obj_id=[0],
                      type_id=1),
            '2': dict(exp='the long bar', anno_id=[3], obj_id=[2], type_id=2)}
    meta = {'videos': {VIDEO: dict(frames=FRAMES, expressions=exps, height=H, width=W)}}
    masks = {str(k): [] for k in (1, 2, 3)}
    fg = {VIDEO: {'masks_rle': []}}
    os.makedirs(osp.join(root, 'JPEGImages', VIDEO), exist_ok=True)
    for t, name in enumerate(FRAMES):
        objs = _objects(t)
        for k, m in zip((1, 2, 3), objs):
            masks[str(k)].append(rle(m))
        fg[VIDEO]['masks_rle'].append(rle(objs[0] | objs[1] | objs[2]))
        cv2.imwrite(osp.join(root, 'JPEGImages', VIDEO, name + '.jpg'),
                    np.full((H, W, 3), 100, np.uint8))
    for name, data in (('meta_expressions_valid_.json', meta), ('mask_dict.json', masks),
                       ('mask_dict_foreground.json', fg)):
        with open(osp.join(root, name), 'w') as f:
            json.dump(data, f)
    return root


def _ours(root, **metric_kwargs):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.evaluation import ReVOSMetric
    from desa2va_mm.registry import DATASETS, TRANSFORMS
    init_default_scope('desa2va_mm')
    ds = DATASETS.build(dict(type='ReVOSDataset', data_root=root + '/', test_mode=True))
    results = ds.get_data_info(0)
    for cfg in (dict(type='SampleVideoExpressions', mode='all'),
                dict(type='SampleVideoFrames', mode='test', num_key_frames=1),
                dict(type='LoadVideoAnnotations', mode='test')):
        results = TRANSFORMS.build(cfg)(results)
    sample = {k: results[k] for k in ('video_id', 'exp_ids', 'type_ids', 'frame_names',
                                      'ori_shape', 'gt_rles', 'foreground_rles',
                                      'gt_object_rles')}
    per_frame = [_predictions(t) for t in range(len(FRAMES))]
    sample['pred_rles'] = [[rle(per_frame[t][e]) for t in range(len(FRAMES))]
                           for e in range(3)]
    metric = ReVOSMetric(**metric_kwargs)
    metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


def _disk(radius):
    grid = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(grid, grid)
    return (x ** 2 + y ** 2 <= radius ** 2).astype(np.uint8)


def _visa(root, tmp_path, monkeypatch):
    script = reference_source('cilinyan/VISA', 'tools/eval_revos.py')
    metrics = reference_source('cilinyan/VISA', 'tools/metrics.py')
    # One worker in this process; its queue from a manager, whose empty() sees the items
    # just put (a plain mp.Queue may still be flushing them and read as empty).
    edits = (('NUM_WOEKERS = 128', 'NUM_WOEKERS = 1'), ('= mp.Queue()', '= mp.Manager().Queue()'))
    for old, new in edits:
        assert old in script, old
        script = script.replace(old, new)
    work = tmp_path / 'visa'
    work.mkdir()
    (work / 'eval_revos.py').write_text(script)
    (work / 'metrics.py').write_text(metrics)
    pred_dir = tmp_path / 'visa_out' / 'pred'
    for t, name in enumerate(FRAMES):
        for e, mask in enumerate(_predictions(t)):
            folder = pred_dir / VIDEO / str(e)
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f'{name}.png'), mask)  # 0 / 1, read back as is
    pandas = types.ModuleType('pandas')
    pandas.DataFrame = lambda data: types.SimpleNamespace(to_csv=lambda *a, **k: None)
    termcolor = types.ModuleType('termcolor')
    termcolor.colored = lambda text, *a, **k: text
    skimage = types.ModuleType('skimage')
    skimage.morphology = types.ModuleType('skimage.morphology')
    skimage.morphology.disk = _disk
    for name, module in (('pandas', pandas), ('termcolor', termcolor), ('skimage', skimage),
                         ('skimage.morphology', skimage.morphology)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.delitem(sys.modules, 'metrics', raising=False)
    monkeypatch.setattr(sys, 'argv', [
        'eval_revos.py', str(pred_dir),
        '--visa_exp_path', osp.join(root, 'meta_expressions_valid_.json'),
        '--visa_mask_path', osp.join(root, 'mask_dict.json'),
        '--visa_foreground_mask_path', osp.join(root, 'mask_dict_foreground.json')])
    runpy.run_path(str(work / 'eval_revos.py'), run_name='__main__')
    with open(tmp_path / 'visa_out' / 'revos_valid.json') as f:
        return json.load(f)


@pytest.mark.slow  # VISA's script starts a multiprocessing manager process
def test_revos_scores_match_visas_evaluator(tmp_path, monkeypatch):
    root = _write_revos(str(tmp_path / 'ReVOS'))
    ours, union = _ours(root), _ours(root, overlap='union')
    theirs = _visa(root, tmp_path, monkeypatch)  # stand-in modules from here on
    names = {'referring': 'referring', 'reason': 'reasoning', 'overall': 'overall'}
    for group, our_group in names.items():
        for key in ('J', 'F', 'A', 'R', 'JF'):
            our_key = f"{our_group}/{'J&F' if key == 'JF' else key}"
            assert ours[our_key] == pytest.approx(theirs[group][key], abs=1e-9), our_key
    # The fixture makes the protocol choices visible: summing the overlapping objects
    # lowers A and R of expression 0, and the type 2 expression is in no average.
    assert union['referring/A'] > ours['referring/A']
    assert union['referring/R'] > ours['referring/R']
    assert union['reasoning/J'] == ours['reasoning/J']
    assert not any('2' in key.split('/')[0] for key in ours)
