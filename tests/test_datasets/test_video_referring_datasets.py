"""MeViS / ReVOS / Ref-YouTube-VOS / Ref-DAVIS17 loaders on fixtures in each real format."""
import json
import os.path as osp

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from video_data_fixtures import (H, VIDEOS, W, frame_image, frame_names, object_mask,
                                 union_masks, write_mevis, write_ytvos)


def _build(cfg):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(cfg)


def _run(dataset, index, pipeline):
    from desa2va_mm.registry import TRANSFORMS
    results = dataset.get_data_info(index)
    for cfg in pipeline:
        results = TRANSFORMS.build(cfg)(results)
    return results


TEST_PIPELINE = [
    dict(type='SampleVideoExpressions', mode='all'),
    dict(type='SampleVideoFrames', mode='test', num_key_frames=2),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='test'),
]


def _train_pipeline(num_expressions=5):
    return [
        dict(type='SampleVideoExpressions', mode='random', num_expressions=num_expressions),
        dict(type='SampleVideoFrames', mode='train', num_frames=3, contiguous_prob=0.0),
        dict(type='LoadVideoFrames'),
        dict(type='LoadVideoAnnotations', mode='train'),
    ]


def _decode_all(rles):
    return np.stack([np.zeros((H, W), np.uint8) if r is None else mask_utils.decode(r)
                     for r in rles])


@pytest.fixture(scope='module')
def mevis_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('mevis'))
    write_mevis(root)
    return root


def test_mevis_items_list_frames_and_expressions(mevis_root):
    ds = _build(dict(type='MeViSDataset', data_root=mevis_root + '/'))
    assert len(ds) == 2 and ds.num_expressions() == 5
    item = ds.get_data_info(0)
    assert item['video_id'] == 'vid_a' and (item['height'], item['width']) == (H, W)
    assert item['frame_names'] == frame_names('vid_a')
    assert item['frame_paths'] == [osp.join(mevis_root, 'JPEGImages', 'vid_a', n + '.jpg')
                                   for n in frame_names('vid_a')]
    assert [e['exp_id'] for e in item['expressions']] == ['0', '1', '2']
    assert item['expressions'][2]['mask_source'] == dict(anno_ids=['0', '1'])
    assert item['expressions'][0]['expression'] == 'the box moving right'
    assert item['expressions'][0]['type_id'] is None
    # Only the anno_ids this video uses travel with the item.
    assert sorted(item['mask_rles']) == ['0', '1']


def test_mevis_test_rles_are_the_union_and_null_frames_are_none(mevis_root):
    ds = _build(dict(type='MeViSDataset', data_root=mevis_root + '/', test_mode=True))
    res = _run(ds, 0, TEST_PIPELINE)
    assert res['exp_ids'] == ['0', '1', '2'] and res['type_ids'] == [None] * 3
    assert len(res['gt_rles']) == 3 and all(len(r) == 4 for r in res['gt_rles'])
    # Object 1 is out of view on frames 1-2: RLE null -> None.
    assert res['gt_rles'][1][1] is None and res['gt_rles'][1][2] is None
    for e, objs in enumerate(([0], [1], [0, 1])):
        got = _decode_all(res['gt_rles'][e])
        np.testing.assert_array_equal(got, union_masks('vid_a', objs, range(4)))
    assert all(isinstance(r['counts'], str) and r['size'] == [H, W]
               for r in res['gt_rles'][2] if r is not None)
    assert res['key_frame_ids'].tolist() == [0, 1] and len(res['frames']) == 2
    assert res['ori_shape'] == (H, W)


def test_mevis_train_masks_decode_the_sampled_frames(mevis_root):
    ds = _build(dict(type='MeViSDataset', data_root=mevis_root + '/'))
    np.random.seed(0)
    for _ in range(5):
        res = _run(ds, 0, _train_pipeline())
        frames = res['frame_ids'].tolist()
        assert len(frames) == 3 and frames == sorted(frames)
        assert res['gt_masks'].shape == (3, 3, H, W) and res['gt_masks'].dtype == np.uint8
        table = {'0': [0], '1': [1], '2': [0, 1]}
        for e, exp_id in enumerate(res['exp_ids']):
            np.testing.assert_array_equal(res['gt_masks'][e],
                                          union_masks('vid_a', table[exp_id], frames))
        for frame, t in zip(res['frames'], frames):
            # JPEG of the frame actually sampled (brightness encodes the frame index).
            nearest = np.argmin([np.abs(frame.astype(int) - frame_image('vid_a', k)).mean()
                                 for k in range(4)])
            assert nearest == t


def test_revos_type_ids_and_foreground(tmp_path):
    write_mevis(str(tmp_path), with_type_id=True, foreground=True,
                meta_name='meta_expressions_valid_.json')
    ds = _build(dict(type='ReVOSDataset', data_root=str(tmp_path) + '/', test_mode=True))
    res = _run(ds, 0, TEST_PIPELINE)
    assert res['type_ids'] == [0, 1, 0]
    fg = _decode_all(res['foreground_rles'])
    np.testing.assert_array_equal(fg, union_masks('vid_a', [0, 1], range(4)))


def test_revos_rejects_a_missing_type_id(tmp_path):
    write_mevis(str(tmp_path), meta_name='meta_expressions_valid_.json')
    with pytest.raises(ValueError, match=r"video 'vid_a', expression '0'.*type_id"):
        _build(dict(type='ReVOSDataset', data_root=str(tmp_path) + '/',
                    foreground_file=None))


def test_revos_type_2_and_object_masks_reach_the_metric(tmp_path):
    """A real ReVOS meta file holds type_id 2 expressions: they load, are scored, and stay
    out of the averages (VISA's evaluator); multi-object expressions carry their objects'
    masks for the summed ground truth of A and R."""
    from desa2va_mm.evaluation import ReVOSMetric
    write_mevis(str(tmp_path), with_type_id=True, foreground=True,
                meta_name='meta_expressions_valid_.json')
    path = osp.join(str(tmp_path), 'meta_expressions_valid_.json')
    meta = json.load(open(path))
    meta['videos']['vid_a']['expressions']['1']['type_id'] = 2
    json.dump(meta, open(path, 'w'))
    ds = _build(dict(type='ReVOSDataset', data_root=str(tmp_path) + '/', test_mode=True))
    item = ds.get_data_info(0)
    assert [e['type_id'] for e in item['expressions']] == [0, 2, 0]
    # Only expression '2' names two objects (anno_ids 0 and 1 of vid_a).
    assert list(item['gt_object_rles']) == ['2']
    assert item['gt_object_rles']['2'] == [item['mask_rles']['0'], item['mask_rles']['1']]
    train = _build(dict(type='ReVOSDataset', data_root=str(tmp_path) + '/',
                        foreground_file=None))
    assert 'gt_object_rles' not in train.get_data_info(0)
    res = _run(ds, 0, TEST_PIPELINE)
    keys = ('video_id', 'exp_ids', 'type_ids', 'frame_names', 'ori_shape', 'gt_rles',
            'foreground_rles', 'gt_object_rles')
    sample = {k: res[k] for k in keys}
    sample['pred_rles'] = res['gt_rles']  # perfect predictions
    metric = ReVOSMetric(round_per_expression=False)
    metric.process({}, [sample])
    assert [r['type_id'] for r in metric.results[0]] == [0, 2, 0]
    assert all(r['J'] == r['F'] == r['A'] == r['R'] == 1.0 for r in metric.results[0])
    out = metric.compute_metrics(metric.results)
    assert set(out) == {f'{g}/{n}' for g in ('referring', 'overall')
                        for n in ('J', 'F', 'A', 'R', 'J&F')}
    meta['videos']['vid_a']['expressions']['1']['type_id'] = 7
    json.dump(meta, open(path, 'w'))
    with pytest.raises(ValueError, match=r"expression '1'.*\"type_id\" must be 0 "
                                         r'\(referring\), 1 \(reasoning\) or 2, got 7'):
        _build(dict(type='ReVOSDataset', data_root=str(tmp_path) + '/', test_mode=True))


@pytest.mark.parametrize('dataset_type', ['RefYTVOSDataset', 'RefDAVISDataset'])
def test_palette_png_datasets(tmp_path, dataset_type):
    split = 'train' if dataset_type == 'RefYTVOSDataset' else 'valid'
    exps = write_ytvos(str(tmp_path), split)
    ds = _build(dict(type=dataset_type, data_root=str(tmp_path) + '/', test_mode=True))
    item = ds.get_data_info(1)
    assert item['video_id'] == 'vid_b'
    assert item['frame_names'] == frame_names('vid_b')  # sorted although listed reversed
    assert [e['mask_source'] for e in item['expressions']] == [
        dict(obj_ids=[1]), dict(obj_ids=[2]), dict(obj_ids=[1])]
    res = _run(ds, 1, TEST_PIPELINE)
    for e, exp_id in enumerate(res['exp_ids']):
        objs = exps['vid_b'][exp_id][1]
        np.testing.assert_array_equal(_decode_all(res['gt_rles'][e]),
                                      union_masks('vid_b', objs, range(3)))
    res = _run(_build(dict(type=dataset_type, data_root=str(tmp_path) + '/')), 0,
               _train_pipeline(2))
    for e, exp_id in enumerate(res['exp_ids']):
        np.testing.assert_array_equal(
            res['gt_masks'][e], union_masks('vid_a', exps['vid_a'][exp_id][1],
                                            res['frame_ids']))
    # Out-of-view frames of object 1 (no pixel of index 2) are empty masks.
    res = _run(ds, 0, TEST_PIPELINE)
    assert res['gt_rles'][1][1] is None and res['gt_rles'][1][2] is None


def test_ref_ytvos_valid_has_no_ground_truth(tmp_path):
    write_ytvos(str(tmp_path), 'valid', with_annotations=False)
    ds = _build(dict(type='RefYTVOSDataset', data_root=str(tmp_path) + '/',
                     ann_file='meta_expressions/valid/meta_expressions.json',
                     data_prefix=dict(img_path='valid/JPEGImages/'), test_mode=True))
    res = _run(ds, 0, TEST_PIPELINE)
    assert 'gt_rles' not in res and res['expressions'] == ['a box moving right',
                                                           'a box going left']
    assert (res['height'], res['width']) == (H, W)  # read from the first frame's header


def test_mevis_online_split_without_mask_file(mevis_root):
    ds = _build(dict(type='MeViSDataset', data_root=mevis_root + '/', mask_file=None,
                     test_mode=True))
    res = _run(ds, 1, TEST_PIPELINE)
    assert 'gt_rles' not in res and res['exp_ids'] == ['0', '1']


# ----------------------------------------------------------------------------- bad data
def _edit_json(path, edit):
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, 'w') as f:
        json.dump(data, f)


def test_expression_missing_a_field_is_named(tmp_path):
    root = str(tmp_path)
    write_mevis(root)
    _edit_json(osp.join(root, 'meta_expressions.json'),
               lambda d: d['videos']['vid_b']['expressions']['1'].pop('anno_id'))
    with pytest.raises(ValueError, match=r"video 'vid_b', expression '1'.*\"anno_id\""):
        _build(dict(type='MeViSDataset', data_root=root + '/'))
    write_mevis(root)
    _edit_json(osp.join(root, 'meta_expressions.json'),
               lambda d: d['videos']['vid_a']['expressions']['2'].update(anno_id=[]))
    with pytest.raises(ValueError, match=r"video 'vid_a', expression '2'.*names no object"):
        _build(dict(type='MeViSDataset', data_root=root + '/'))
    _edit_json(osp.join(root, 'meta_expressions.json'),
               lambda d: d['videos']['vid_a'].pop('frames'))
    with pytest.raises(ValueError, match=r"video 'vid_a'.*\"frames\""):
        _build(dict(type='MeViSDataset', data_root=root + '/'))


def test_unknown_anno_id_and_wrong_frame_count_are_named(tmp_path):
    root = str(tmp_path)
    write_mevis(root)
    _edit_json(osp.join(root, 'mask_dict.json'), lambda d: d.pop('11'))
    with pytest.raises(ValueError, match=r"video 'vid_b', expression '1'.*anno_id 11"):
        _build(dict(type='MeViSDataset', data_root=root + '/'))
    write_mevis(root)
    _edit_json(osp.join(root, 'mask_dict.json'), lambda d: d['0'].pop())
    with pytest.raises(ValueError, match=r"vid_a.*3 per-frame masks for 4 frames"):
        _build(dict(type='MeViSDataset', data_root=root + '/'))


def test_rle_of_the_wrong_size_is_named(tmp_path):
    root = str(tmp_path)
    write_mevis(root)
    bad = mask_utils.encode(np.asfortranarray(np.ones((H + 1, W), np.uint8)))
    bad = {'size': [int(v) for v in bad['size']], 'counts': bad['counts'].decode()}

    def edit(d):
        d['0'][3] = bad
    _edit_json(osp.join(root, 'mask_dict.json'), edit)
    for mode, pipeline in (('test', TEST_PIPELINE),
                           ('train', [dict(type='SampleVideoExpressions', mode='all'),
                                      dict(type='SampleVideoFrames', mode='test',
                                           num_key_frames=4),
                                      dict(type='LoadVideoAnnotations', mode='train')])):
        ds = _build(dict(type='MeViSDataset', data_root=root + '/', test_mode=True))
        with pytest.raises(ValueError, match=r"video 'vid_a', expression '0', frame 3 "
                           r"\('00015'\).*RLE size 25x32 does not match the video size 24x32"):
            _run(ds, 0, pipeline)


def test_missing_and_corrupt_frames_are_named(tmp_path):
    root = str(tmp_path)
    write_mevis(root)
    import os
    os.remove(osp.join(root, 'JPEGImages', 'vid_b', '00005.jpg'))
    ds = _build(dict(type='MeViSDataset', data_root=root + '/', test_mode=True))
    pipeline = [dict(type='SampleVideoExpressions', mode='all'),
                dict(type='SampleVideoFrames', mode='test', num_key_frames=3),
                dict(type='LoadVideoFrames')]
    with pytest.raises(FileNotFoundError, match=r"video 'vid_b', frame 1 \('00005'\)"):
        _run(ds, 1, pipeline)
    path = osp.join(root, 'JPEGImages', 'vid_a', '00010.jpg')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:-10])  # truncated JPEG: OpenCV alone decodes it without an error
    with pytest.raises(ValueError, match=r"video 'vid_a', frame 2 \('00010'\).*truncated"):
        _run(ds, 0, pipeline)


def test_missing_annotation_png_and_bad_obj_id_are_named(tmp_path):
    root = str(tmp_path)
    write_ytvos(root)
    import os
    os.remove(osp.join(root, 'train', 'Annotations', 'vid_a', '00005.png'))
    ds = _build(dict(type='RefYTVOSDataset', data_root=root + '/', test_mode=True))
    with pytest.raises(FileNotFoundError, match=r"video 'vid_a', frame 1 \('00005'\)"):
        _run(ds, 0, TEST_PIPELINE)
    _edit_json(osp.join(root, 'meta_expressions', 'train', 'meta_expressions.json'),
               lambda d: d['videos']['vid_b']['expressions']['2'].update(obj_id='x'))
    with pytest.raises(ValueError, match=r"video 'vid_b', expression '2'.*obj_id"):
        _build(dict(type='RefYTVOSDataset', data_root=root + '/'))


def test_missing_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'MeViSDataset: expression file .*'
                       r'meta_expressions.json does not exist'):
        _build(dict(type='MeViSDataset', data_root=str(tmp_path) + '/'))
    (tmp_path / 'meta_expressions.json').write_text('{"videos": {}}')
    with pytest.raises(FileNotFoundError, match='mask file .*mask_dict.json'):
        _build(dict(type='MeViSDataset', data_root=str(tmp_path) + '/'))
    (tmp_path / 'meta_expressions.json').write_text('[1, 2]')
    with pytest.raises(ValueError, match='no "videos" mapping'):
        _build(dict(type='MeViSDataset', data_root=str(tmp_path) + '/', mask_file=None))


def test_every_video_of_the_fixture_is_listed(mevis_root):
    ds = _build(dict(type='MeViSDataset', data_root=mevis_root + '/'))
    assert [ds.get_data_info(i)['video_id'] for i in range(len(ds))] == list(VIDEOS)
    # Object masks really differ frame to frame (the fixture is not degenerate).
    assert not np.array_equal(object_mask('vid_a', 0, 0), object_mask('vid_a', 0, 1))
