"""The synthetic MeViS generator: motion semantics, determinism, MeViS round trip, CLI."""
import filecmp
import json
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from desa2va_mm.synthetic import (MEVIS_VOCABULARY, SIDECAR_FILE, generate_video,
                                  make_synthetic_mevis, render_video_expression,
                                  resolve_video_expression)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLI = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'make_synthetic_mevis.py')
SEED, NUM_VIDEOS, NUM_FRAMES = 5, 24, 10


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_mevis'))
    start = time.perf_counter()
    summary = make_synthetic_mevis(root, NUM_VIDEOS, NUM_FRAMES, seed=SEED)
    return root, summary, time.perf_counter() - start


def _load(root, split):
    with open(osp.join(root, split, 'meta_expressions.json')) as f:
        meta = json.load(f)['videos']
    with open(osp.join(root, split, 'mask_dict.json')) as f:
        masks = json.load(f)
    return meta, masks


def test_layout_summary_and_speed(dataset):
    root, summary, seconds = dataset
    assert seconds < 20  # CI generates its data in seconds (measured ~1 s here)
    assert summary['num_videos'] == NUM_VIDEOS
    assert set(summary['splits']) == {'train', 'valid_u'}
    assert summary['splits']['train']['videos'] + summary['splits']['valid_u']['videos'] \
        == NUM_VIDEOS and summary['splits']['valid_u']['videos'] >= 1
    # The point of the set: most expressions describe motion and many need it.
    assert summary['motion_fraction'] > 0.6
    assert summary['needs_motion_fraction'] > 0.25
    assert summary['num_multi_object'] >= 1
    assert summary['empty_frame_fraction'] > 0  # objects entering / leaving: null RLEs
    assert all(summary['motions'][m] > 0 for m in ('static', 'moving', 'stops', 'enters',
                                                  'leaves'))
    for split in ('train', 'valid_u'):
        meta, _ = _load(root, split)
        video_id = sorted(meta)[0]
        assert meta[video_id]['frames'] == ['%05d' % t for t in range(NUM_FRAMES)]
        for name in meta[video_id]['frames']:
            assert osp.isfile(osp.join(root, split, 'JPEGImages', video_id, name + '.jpg'))


def test_same_seed_same_bytes(dataset, tmp_path):
    root, _, _ = dataset
    make_synthetic_mevis(str(tmp_path), NUM_VIDEOS, NUM_FRAMES, seed=SEED)
    for rel in ('train/meta_expressions.json', 'train/mask_dict.json',
                'valid_u/mask_dict.json', SIDECAR_FILE):
        assert filecmp.cmp(osp.join(root, rel), osp.join(str(tmp_path), rel), shallow=False)
    meta, _ = _load(root, 'train')
    video_id = sorted(meta)[0]
    jpg = osp.join('train', 'JPEGImages', video_id, '00003.jpg')
    assert filecmp.cmp(osp.join(root, jpg), osp.join(str(tmp_path), jpg), shallow=False)
    # A video depends only on (seed, index), not on the dataset size; other seeds differ.
    a, b = generate_video(SEED, 3, NUM_FRAMES), generate_video(SEED, 3, NUM_FRAMES)
    assert all(np.array_equal(x, y) for x, y in zip(a['frames'], b['frames']))
    c = generate_video(SEED + 1, 3, NUM_FRAMES)
    assert not np.array_equal(a['frames'][0], c['frames'][0])


def test_rles_round_trip_and_expressions_name_their_objects(dataset):
    root, _, _ = dataset
    with open(osp.join(root, SIDECAR_FILE)) as f:
        sidecar = {v['video_id']: v for v in json.load(f)['videos']}
    checked = 0
    for split in ('train', 'valid_u'):
        meta, masks = _load(root, split)
        for video_id, video in meta.items():
            side = sidecar[video_id]
            index = int(video_id.split('_')[1])
            rendered = generate_video(SEED, index, NUM_FRAMES)
            for k, anno_id in enumerate(side['anno_ids']):
                for t, rle in enumerate(masks[str(anno_id)]):
                    truth = rendered['masks'][k, t]
                    if rle is None:
                        assert not truth.any()
                    else:
                        assert rle['size'] == [128, 128]
                        assert np.array_equal(mask_utils.decode(rle), truth)
            for exp_id, exp in video['expressions'].items():
                program = side['programs'][int(exp_id)]
                assert render_video_expression(program) == exp['exp']
                # Both the lenient and the strict reading give exactly the listed objects.
                for lenient in (True, False):
                    assert resolve_video_expression(program, side['objects'],
                                                    lenient) == exp['obj_id']
                assert exp['anno_id'] == [side['anno_ids'][i] for i in exp['obj_id']]
                assert set(exp['exp'].split()) <= set(MEVIS_VOCABULARY)
                checked += 1
    assert checked >= NUM_VIDEOS


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_masks_show_the_described_motion():
    seen = set()
    for index in range(30):
        video = generate_video(1, index, 12)
        for k, obj in enumerate(video['objects']):
            masks, centres = video['masks'][k], np.asarray(obj['centres'])
            visible = [t for t in range(12) if masks[t].sum() > 30]
            motion = obj['motion']
            seen.add(motion)
            if motion == 'static':
                assert np.allclose(centres, centres[0])
                continue
            axis = 0 if obj['direction'] in ('left', 'right') else 1
            sign = 1 if obj['direction'] in ('right', 'down') else -1
            steps = np.diff(centres[:, axis]) * sign
            if motion == 'stops':
                stop = obj['stop_frame']
                assert 0 < stop < 11
                assert np.all(steps[:stop] > 0) and np.allclose(steps[stop:], 0)
            else:
                assert np.all(steps > 0)
            if motion == 'enters':
                assert not masks[0].any() and masks[-1].any()
            if motion == 'leaves':
                assert masks[0].any() and not masks[-1].any()
            if motion == 'moving' and len(visible) >= 2:
                first, last = _centroid(masks[visible[0]]), _centroid(masks[visible[-1]])
                assert (last[axis] - first[axis]) * sign > 5  # pixels really move
    assert seen == {'static', 'moving', 'stops', 'enters', 'leaves'}


def test_tokenizer_vocabulary_extends_refcoco_ids():
    from desa2va_mm.tokenization import TinyWordTokenizer
    image_tok = TinyWordTokenizer(vocabulary='synthetic_refcoco')
    video_tok = TinyWordTokenizer(vocabulary='synthetic_mevis')
    image_vocab, video_vocab = image_tok.get_vocab(), video_tok.get_vocab()
    # Every synthetic-RefCOCO id is unchanged; the motion words come after them.
    assert all(video_vocab[w] == i for w, i in image_vocab.items())
    assert len(video_vocab) > len(image_vocab)
    text = 'the red circles moving left the square that stops the star that leaves the frame'
    ids = video_tok(text)['input_ids']
    assert video_tok.unk_token_id not in ids
    assert image_tok.unk_token_id in image_tok(text)['input_ids']
    with pytest.raises(ValueError, match="'synthetic_mevis'"):
        TinyWordTokenizer(vocabulary='mevis')


def test_generator_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match='num_frames must be an int >= 2'):
        make_synthetic_mevis(str(tmp_path), 2, num_frames=1)
    with pytest.raises(ValueError, match='splits must be unique'):
        make_synthetic_mevis(str(tmp_path), 2, splits=[('train', 1.0), ('train', 1.0)])


def test_cli_writes_a_loadable_dataset(tmp_path):
    out = str(tmp_path / 'syn')
    help_text = subprocess.run([sys.executable, CLI, '--help'], capture_output=True,
                               text=True, check=True).stdout
    assert '--num-frames' in help_text and '--seed' in help_text
    run = subprocess.run([sys.executable, CLI, '--out', out, '--num-videos', '4',
                          '--num-frames', '6', '--seed', '2', '--quiet'],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert 'wrote 4 videos x 6 frames' in run.stdout
    bad = subprocess.run([sys.executable, CLI, '--out', out, '--num-videos', '0'],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and 'must be >= 1' in bad.stderr

    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    for split in ('train', 'valid_u'):
        ds = DATASETS.build(dict(type='MeViSDataset', data_root=osp.join(out, split) + '/'))
        item = ds.get_data_info(0)
        assert len(item['frame_paths']) == 6 and (item['height'], item['width']) == (128, 128)


def test_tiny_video_config_pipelines_run_end_to_end(tmp_path):
    """The synthetic_mevis_tiny pipelines, through the video packing transforms."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    root = str(tmp_path)
    make_synthetic_mevis(root, 6, 8, seed=0)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/synthetic_mevis_tiny.py'))
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = osp.join(root, 'train') + '/'
    train = DATASETS.build(train_cfg)
    np.random.seed(0)
    packed = train[0]
    sample = packed['data_samples']
    num_exps = len(sample.expressions)
    assert 1 <= num_exps <= 3
    assert tuple(packed['inputs'].shape) == (5, 3, 128, 128)
    assert sample.gt_instances.masks.masks.shape == (num_exps * 5, 128, 128)
    assert tuple(sample.pixel_values.shape) == (5, 3, 112, 112)
    tokenizer_cfg = cfg.tokenizer
    from desa2va_mm.tokenization import build_tokenizer
    tokenizer = build_tokenizer(tokenizer_cfg.to_dict())
    ids = sample.input_ids
    ids = ids if not isinstance(ids, list) else ids[0]
    assert tokenizer.unk_token_id not in ids.tolist()
    assert (ids == tokenizer.convert_tokens_to_ids('[SEG]')).sum() == num_exps

    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = osp.join(root, 'valid_u') + '/'
    val = DATASETS.build(val_cfg)
    sample = val[0]['data_samples']
    info = val.get_data_info(0)
    assert sample.video_id == info['video_id']
    assert sample.exp_ids == [e['exp_id'] for e in info['expressions']]
    assert len(sample.gt_rles) == len(sample.exp_ids)
    assert all(len(r) == 8 for r in sample.gt_rles)
    assert sample.key_frame_ids == [0, 1, 2, 3, 4] and len(sample.frame_paths) == 8
    assert tuple(sample.ori_shape) == (128, 128)
