"""tools/dataset_converters/images_to_refcoco.py: own images + masks -> RefCOCO layout."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT

SCRIPT = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'images_to_refcoco.py')


def _load_convert():
    import importlib.util
    spec = importlib.util.spec_from_file_location('images_to_refcoco', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.convert


def _write_inputs(root):
    os.makedirs(osp.join(root, 'images'))
    os.makedirs(osp.join(root, 'masks', 'a'))
    cv2.imwrite(osp.join(root, 'images', 'a.jpg'), np.full((24, 32, 3), 90, np.uint8))
    cv2.imwrite(osp.join(root, 'images', 'b.png'), np.full((16, 16, 3), 10, np.uint8))
    mug = np.zeros((24, 32), np.uint8)
    mug[2:10, 3:9] = 255
    kettle = np.zeros((24, 32), np.uint8)
    kettle[12:20, 20:30] = 1
    cv2.imwrite(osp.join(root, 'masks', 'a', 'mug.png'), mug)
    cv2.imwrite(osp.join(root, 'masks', 'a', 'kettle.png'), kettle)
    box = np.zeros((16, 16, 3), np.uint8)
    box[4:8, 4:8] = 200  # a colour mask: any non-zero channel is the object
    cv2.imwrite(osp.join(root, 'masks', 'b_box.png'), box)
    index = [
        dict(image='a.jpg', mask='a/mug.png', expressions=['the Mug', 'left cup']),
        dict(image='a.jpg', mask='a/kettle.png', expressions=['kettle'], split='val'),
        dict(image='b.png', mask='b_box.png', expressions=['box'], split='val'),
    ]
    json.dump(index, open(osp.join(root, 'index.json'), 'w'))
    return dict(mug=mug > 0, kettle=kettle > 0, box=box.max(2) > 0)


def test_round_trip_through_the_loader(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    os.makedirs(src)
    masks = _write_inputs(src)
    counts = _load_convert()(osp.join(src, 'index.json'), osp.join(src, 'images'),
                             osp.join(src, 'masks'), out)
    assert counts == dict(train=1, val=2)
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='SampleReferringTargets', mode='all'),
                dict(type='LoadReferringMasks')]
    common = dict(type='RefCocoReferringDataset', data_root=out,
                  ann_file='refcoco/instances.json', split_file='refcoco/refs(unc).p',
                  data_prefix=dict(img_path='images/'), pipeline=pipeline)
    train = DATASETS.build(dict(common, split='train'))
    sample = train[0]
    assert sample['text'] == ['the mug', 'left cup']
    for m in sample['gt_masks'].masks:
        np.testing.assert_array_equal(m.astype(bool), masks['mug'])
    val = DATASETS.build(dict(common, split='val', test_mode=True))
    got = {tuple(val[i]['text']): val[i]['gt_masks'].masks[0].astype(bool)
           for i in range(len(val))}
    np.testing.assert_array_equal(got[('kettle', )], masks['kettle'])
    np.testing.assert_array_equal(got[('box', )], masks['box'])


def test_bad_entries_are_named(tmp_path):
    src = str(tmp_path / 'src')
    os.makedirs(src)
    _write_inputs(src)
    convert = _load_convert()
    index = json.load(open(osp.join(src, 'index.json')))
    index[2]['mask'] = 'a/mug.png'  # 24x32 mask on the 16x16 image
    json.dump(index, open(osp.join(src, 'index.json'), 'w'))
    with pytest.raises(ValueError, match=r"entry 2 \('b.png', 'a/mug.png'\): mask of size "
                                         r'\[24, 32\] on an image of size \[16, 16\]'):
        convert(osp.join(src, 'index.json'), osp.join(src, 'images'), osp.join(src, 'masks'),
                str(tmp_path / 'o1'))
    index[2] = dict(image='missing.jpg', mask='b_box.png', expressions=['x'])
    json.dump(index, open(osp.join(src, 'index.json'), 'w'))
    with pytest.raises(FileNotFoundError, match='entry 2.*missing.jpg'):
        convert(osp.join(src, 'index.json'), osp.join(src, 'images'), osp.join(src, 'masks'),
                str(tmp_path / 'o2'))


def test_help():
    proc = subprocess.run([sys.executable, SCRIPT, '--help'], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and '--index' in proc.stdout
