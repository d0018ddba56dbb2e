"""The real-layout video base configs build their datasets and run their test pipelines."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from conftest import give_real_size_tokenizer
from video_data_fixtures import H, W, write_mevis, write_ytvos

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cfg(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', name))


def _build(cfg):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    dataset = DATASETS.build(cfg)
    give_real_size_tokenizer(dataset)  # what ModelTokenizerHook does in a runner
    return dataset


@pytest.mark.parametrize('name,key,write', [
    ('mevis.py', 'mevis_valid_u', 'mevis'),
    ('revos.py', 'revos_valid', 'revos'),
    ('ref_davis17.py', 'ref_davis17_valid', 'ytvos_valid'),
    ('ref_ytvos.py', 'ref_ytvos_valid', 'ytvos_online'),
])
def test_video_test_pipelines_pack_the_contract_keys(tmp_path, name, key, write):
    root = str(tmp_path) + '/'
    if write == 'mevis':
        write_mevis(root)
    elif write == 'revos':
        write_mevis(root, with_type_id=True, foreground=True,
                    meta_name='meta_expressions_valid_.json')
    else:
        write_ytvos(root, 'valid', with_annotations=write == 'ytvos_valid')
    cfg = _cfg(name)
    dataset_cfg = cfg[key]
    dataset_cfg.data_root = root
    dataset = _build(dataset_cfg)
    packed = dataset[0]
    meta = packed['data_samples'].metainfo
    assert meta['video_id'] == 'vid_a' and meta['num_frames'] == 4
    assert meta['key_frame_ids'] == [0, 1, 2, 3]  # 4-frame video, 5 key frames asked
    assert tuple(meta['ori_shape']) == (H, W) and len(meta['frame_paths']) == 4
    assert tuple(packed['data_samples'].pixel_values.shape) == (4, 3, 448, 448)
    # Test frames are a lazy source the model streams (nothing read at packing).
    source = packed['inputs']
    assert len(source) == 4 and source.frame_paths == meta['frame_paths']
    assert source.video_id == 'vid_a' and source.frame_names == meta['frame_names']
    if write == 'ytvos_online':
        assert 'gt_rles' not in meta
    else:
        assert len(meta['gt_rles']) == len(meta['exp_ids']) and len(meta['gt_rles'][0]) == 4
    if write == 'revos':
        assert meta['type_ids'] == [0, 1, 0] and len(meta['foreground_rles']) == 4
        # Expression '2' names two objects: their masks travel for ReVOSMetric's sum.
        assert list(meta['gt_object_rles']) == ['2']
        assert [len(o) for o in meta['gt_object_rles']['2']] == [4, 4]


def test_video_train_pipeline_packs_five_frames(tmp_path):
    root = str(tmp_path) + '/'
    write_mevis(root)
    cfg = _cfg('mevis.py')
    cfg.mevis_train.data_root = root
    dataset = _build(cfg.mevis_train)
    np.random.seed(0)
    packed = dataset[0]
    num_exps = len(packed['data_samples'].expressions)
    assert num_exps == 3  # all 3 expressions of vid_a (5 asked, no padding)
    assert tuple(packed['inputs'].shape) == (5, 3, 1024, 1024)
    assert packed['data_samples'].gt_instances.masks.masks.shape == (num_exps * 5, 1024, 1024)
    assert cfg.train_dataloader.dataset.type == 'MeViSDataset'
    assert cfg.val_evaluator.type == 'VideoJFMetric'
