"""SAVDataset: Sa2VA's SA-V expression file + SA-V masklet files + 24 fps mp4."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
H, W = 32, 48
# Two masklets over three annotated frames; object 1 is described, object 0 is not.
COLORS = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # BGR per annotated frame


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


def _mask(obj, t):
    m = np.zeros((H, W), np.uint8)
    if obj == 0:
        m[2:10, 2 + 4 * t:12 + 4 * t] = 1
    else:
        m[16:30, 30 - 5 * t:44 - 5 * t] = 1
    return m


def _rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {'size': [H, W], 'counts': rle['counts'].decode('ascii')}


def _write_mp4(path, num_frames):
    import av
    with av.open(path, mode='w') as container:
        stream = container.add_stream('libx264', rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, 'yuv420p'
        stream.options = {'crf': '0'}
        for i in range(num_frames):  # decoded frame i shows annotated frame i // 4
            frame = np.zeros((H, W, 3), np.uint8)
            frame[:] = COLORS[(i // 4) % 3]
            picture = av.VideoFrame.from_ndarray(frame, format='bgr24')
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope='module')
def sav_root(tmp_path_factory):
    """Hand-written in Sa2VA's / SA-V's layout (not through our writer)."""
    root = str(tmp_path_factory.mktemp('sav'))
    os.makedirs(osp.join(root, 'sam_v_full', 'sav_000'))
    _write_mp4(osp.join(root, 'sam_v_full', 'sav_000', 'sav_000001.mp4'), 12)
    with open(osp.join(root, 'sam_v_full', 'sav_000', 'sav_000001_manual.json'), 'w') as f:
        json.dump({'video_id': 'sav_000001', 'video_height': H, 'video_width': W,
                   'masklet_num': 2,
                   'masklet': [[_rle(_mask(0, t)), _rle(_mask(1, t))] for t in range(3)]}, f)
    with open(osp.join(root, 'sam_v_final_v3.json'), 'w') as f:
        json.dump({'sav_000001': {
            'video_path': 'sav_000/sav_000001.mp4',
            'anno_path': 'sav_000/sav_000001_manual.json',
            'objects': {'1': {'formated': 'A green  ball rolling to the left.',
                              'short_caps': ['green ball']}}}}, f)
    return root


def _sav(root, **kwargs):
    return _build(dict(type='SAVDataset', data_root=root,
                       data_prefix=dict(video_path='sam_v_full/'), **kwargs))


def test_items_read_the_masklet_of_each_described_object(sav_root):
    ds = _sav(sav_root)
    assert len(ds) == 1 and ds.num_expressions() == 1
    info = ds.get_data_info(0)
    assert info['video_id'] == 'sav_000001'
    assert info['expressions'] == [dict(exp_id='1', expression='A green ball rolling to the '
                                        'left.', type_id=None,
                                        mask_source=dict(anno_ids=['1']))]
    assert (info['height'], info['width']) == (H, W)
    assert info['frame_names'] == ['00000', '00004', '00008']
    assert list(info['mask_rles']) == ['1']
    for t, rle in enumerate(info['mask_rles']['1']):
        np.testing.assert_array_equal(mask_utils.decode(rle), _mask(1, t))
    assert len(info['video_source']) == 3


def test_pipeline_gives_every_4th_frame_and_its_masks(sav_root):
    ds = _sav(sav_root)
    np.random.seed(0)
    out = _run(ds, 0, [
        dict(type='SampleVideoExpressions', mode='random', num_expressions=3,
             pad_with_replacement=True),
        dict(type='SampleVideoFrames', mode='train', num_frames=3, contiguous_prob=1.0),
        dict(type='LoadVideoFrames'),
        dict(type='LoadVideoAnnotations', mode='train')])
    assert out['exp_ids'] == ['1', '1', '1']  # Sa2VA draws its 5 objects with replacement
    assert list(out['frame_ids']) == [0, 1, 2]
    assert out['gt_masks'].shape == (3, 3, H, W)
    for t in range(3):
        np.testing.assert_array_equal(out['gt_masks'][0, t], _mask(1, t))
        # Decoded frame 4 t is annotated frame t (colour t), not frame t.
        mean = out['frames'][t].reshape(-1, 3).mean(0)
        assert np.abs(mean - np.array(COLORS[t])).max() < 8, (t, mean)


def test_errors_name_the_file_and_the_video(sav_root, tmp_path):
    with pytest.raises(ValueError, match='training set'):
        _sav(sav_root, test_mode=True)
    bad = tmp_path / 'exp.json'
    bad.write_text(json.dumps({'v1': {'video_path': 'a.mp4', 'anno_path':
                                      'sav_000/sav_000001_manual.json',
                                      'objects': {'5': {'formated': 'x'}}}}))
    ds = _build(dict(type='SAVDataset', data_root=sav_root, ann_file=str(bad),
                     data_prefix=dict(video_path='sam_v_full/')))
    with pytest.raises(ValueError, match=r"video 'v1'.*sav_000001_manual.json has 2 masklet "
                       r'RLEs; the expression file names object 5'):
        ds.get_data_info(0)
    bad.write_text(json.dumps({'v1': {'video_path': 'a.mp4', 'objects': {}}}))
    with pytest.raises(ValueError, match=r"video 'v1' in .*exp.json has no \"anno_path\""):
        _build(dict(type='SAVDataset', data_root=sav_root, ann_file=str(bad)))
    bad.write_text(json.dumps({'v1': {'video_path': 'a.mp4', 'anno_path': 'missing.json',
                                      'objects': {'0': {'formated': 'x'}}}}))
    ds = _build(dict(type='SAVDataset', data_root=sav_root, ann_file=str(bad)))
    with pytest.raises(FileNotFoundError, match=r"annotation file of video 'v1'.*missing.json"):
        ds.get_data_info(0)


def test_synthetic_sav_reads_like_the_synthetic_mevis_of_the_same_videos(tmp_path):
    from desa2va_mm.synthetic import make_synthetic_mevis, make_synthetic_sav
    make_synthetic_mevis(str(tmp_path / 'mevis'), 2, num_frames=4, seed=3,
                         splits=(('train', 1.0),))
    summary = make_synthetic_sav(str(tmp_path / 'sav'), 2, num_frames=4, seed=3)
    assert summary['num_objects'] >= 2
    sav = _build(dict(type='SAVDataset', data_root=str(tmp_path / 'sav'),
                      data_prefix=dict(video_path='sav_train/')))
    mevis = _build(dict(type='MeViSDataset', data_root=str(tmp_path / 'mevis' / 'train')))
    mevis_index = {mevis.get_data_info(i)['video_id']: i for i in range(len(mevis))}
    compared = 0
    for i in range(len(sav)):
        s_info = sav.get_data_info(i)
        m_index = mevis_index['video_%05d' % summary['video_ids'][s_info['video_id']]]
        m_info = mevis.get_data_info(m_index)
        assert (s_info['height'], s_info['width']) == (m_info['height'], m_info['width'])
        assert len(s_info['video_source']) == len(m_info['frame_paths']) == 4
        for exp in s_info['expressions']:
            # The MeViS expression with that text naming that one object.
            match = [e for e in m_info['expressions'] if e['expression'] == exp['expression']
                     and len(e['mask_source']['anno_ids']) == 1]
            assert match, exp
            outs = []
            for ds, index, exp_id in ((sav, i, exp['exp_id']),
                                      (mevis, m_index, match[0]['exp_id'])):
                results = ds.get_data_info(index)
                results['expressions'] = [e for e in results['expressions']
                                          if e['exp_id'] == exp_id]
                outs.append(_run_fixed(results))
            np.testing.assert_array_equal(outs[0]['gt_masks'], outs[1]['gt_masks'])
            assert outs[0]['gt_masks'].any()
            diff = np.abs(np.stack(outs[0]['frames']).astype(int)
                          - np.stack(outs[1]['frames']).astype(int)).mean()
            assert diff < 4, diff  # JPEG q95 vs H.264 crf 0 in yuv420p
            compared += 1
    assert compared == summary['num_objects']


def _run_fixed(results):
    from desa2va_mm.registry import TRANSFORMS
    results = TRANSFORMS.build(dict(type='SampleVideoExpressions', mode='all'))(results)
    results['frame_ids'] = np.arange(4)
    results = TRANSFORMS.build(dict(type='LoadVideoFrames'))(results)
    return TRANSFORMS.build(dict(type='LoadVideoAnnotations', mode='train'))(results)


@pytest.mark.slow
def test_converter_cli(tmp_path):
    help_text = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/dataset_converters/make_synthetic_sav.py'),
         '--help'], capture_output=True, text=True, check=True).stdout
    assert '--num-videos' in help_text and '--stride' in help_text
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/dataset_converters/make_synthetic_sav.py'),
         '--out', str(tmp_path), '--num-videos', '2', '--num-frames', '3'],
        capture_output=True, text=True, check=True).stdout
    assert 'wrote 2 videos' in out
    with open(tmp_path / 'sam_v_final_v3.json') as f:
        assert sorted(json.load(f)) == ['sav_000000', 'sav_000001']
