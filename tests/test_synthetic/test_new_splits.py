"""The motion-pairs video layout and the held-out image split: their defining properties."""
import json
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

from desa2va_mm.synthetic import (HELDOUT_COMBINATIONS, HELDOUT_FILE, HELDOUT_WORDS,
                                  MEVIS_VOCABULARY, REFCOCO_VOCABULARY, SIDECAR_FILE,
                                  generate_motion_pair_video, heldout_items,
                                  make_heldout_refcoco, make_synthetic_mevis,
                                  resolve_video_expression)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# ------------------------------------------------------------------ motion pairs (video)
@pytest.fixture(scope='module')
def motion_pairs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('motion_pairs'))
    summary = make_synthetic_mevis(root, 12, num_frames=8, seed=3, layout='motion_pairs')
    return root, summary


def _centre_path(mask_frames):
    """Centroid (x, y) of a (T, S, S) mask on each frame."""
    out = []
    for m in mask_frames:
        ys, xs = np.nonzero(m)
        out.append((xs.mean(), ys.mean()))
    return np.asarray(out)


def test_twins_share_colour_and_shape_and_differ_in_motion():
    for index in range(15):
        video = generate_motion_pair_video(1, index, num_frames=8)
        a, b, c = video['objects']
        assert (a['color'], a['shape'], a['size']) == (b['color'], b['shape'], b['size'])
        assert (a['motion'], a['direction']) != (b['motion'], b['direction'])
        assert c['color'] != a['color'] and c['shape'] != a['shape']
        # The masks move differently: the twins' displacements over the video (mask
        # centroid, last frame - first) are >= 15 px apart (travel is >= 38 px at 128 px).
        shift = [np.subtract(*_centre_path(video['masks'][i])[[-1, 0]]) for i in (0, 1)]
        assert np.hypot(*(shift[0] - shift[1])) > 15, (a['motion'], b['motion'])
        texts = [t for t, _, _ in video['expressions']]
        roles = [p['role'] for _, p, _ in video['expressions']]
        targets = [t for _, _, t in video['expressions']]
        assert roles == ['twin', 'twin', 'appearance', 'motion_only']
        assert targets == [[0], [1], [2], [2]]
        # The twins' noun phrase alone names both: only the motion words single one out.
        for _, program, target in video['expressions'][:2]:
            assert resolve_video_expression(dict(program, motion=None), video['objects']) \
                == [0, 1]
            assert resolve_video_expression(program, video['objects']) == target
        # The distinct object: appearance without motion, motion without appearance.
        appearance, motion_only = video['expressions'][2][1], video['expressions'][3][1]
        assert appearance['motion'] is None and appearance['head'] == {
            'color': c['color'], 'shape': c['shape']}
        assert motion_only['head'] == {} and motion_only['motion'] == c['motion']
        assert texts[3].startswith('the shape ') and c['color'] not in texts[3]
        assert all(w in MEVIS_VOCABULARY for t in texts for w in t.split())


def test_motion_pairs_written_in_the_mevis_layout(motion_pairs):
    root, summary = motion_pairs
    assert summary['num_videos'] == 12 and summary['num_expressions'] == 48
    assert summary['motions']['enters'] == summary['motions']['leaves'] == 0
    with open(osp.join(root, SIDECAR_FILE)) as f:
        sidecar = json.load(f)
    assert sidecar['layout'] == 'motion_pairs'
    for split in ('train', 'valid_u'):
        with open(osp.join(root, split, 'meta_expressions.json')) as f:
            videos = json.load(f)['videos']
        with open(osp.join(root, split, 'mask_dict.json')) as f:
            masks = json.load(f)
        for video in videos.values():
            exps = video['expressions']
            assert [e['obj_id'] for e in exps.values()] == [[0], [1], [2], [2]]
            # The two expressions of the distinct object share its mask track.
            assert exps['2']['anno_id'] == exps['3']['anno_id']
            assert all(masks[str(a)][0] is not None for e in exps.values()
                       for a in e['anno_id'])  # every object in view on frame 0


def test_video_layout_is_checked(tmp_path):
    with pytest.raises(ValueError, match="layout must be one of .*'no_such'"):
        make_synthetic_mevis(str(tmp_path), 2, layout='no_such')


# ------------------------------------------------------------------ held-out (images)
@pytest.fixture(scope='module')
def heldout(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('heldout'))
    summary = make_heldout_refcoco(root, 120, seed=4)
    with open(osp.join(root, 'refcoco', 'refs(unc).p'), 'rb') as f:
        refs = pickle.load(f)
    return root, summary, refs


def test_heldout_items_by_hand():
    assert heldout_items('the big red star left of the blue square') == ['red star', 'big']
    assert heldout_items('the red shape to the left of the star') == ['to']
    assert heldout_items('the large red square') == []
    assert heldout_items('the star red') == []  # a combination is adjacent words
    assert set(HELDOUT_WORDS) <= set(REFCOCO_VOCABULARY)  # the tokenizer knows them


def test_no_heldout_word_or_combination_in_training(heldout):
    root, summary, refs = heldout
    by_split = {}
    for ref in refs:
        for sent in ref['sentences']:
            by_split.setdefault(ref['split'], []).append(sent['sent'])
    train_words = {w for s in by_split['train'] + by_split['val'] for w in s.split()}
    train_pairs = {p for s in by_split['train'] + by_split['val']
                   for p in zip(s.split(), s.split()[1:])}
    assert not train_words & set(HELDOUT_WORDS)
    assert not train_pairs & set(HELDOUT_COMBINATIONS)
    # Every held-out sentence has one held-out item at least; both kinds occur.
    items = [heldout_items(s) for s in by_split['heldout']]
    assert len(items) >= 20 and all(items)
    flat = {i for its in items for i in its}
    assert flat & set(HELDOUT_WORDS) and flat & {f'{c} {s}' for c, s in HELDOUT_COMBINATIONS}
    # ... and the parts of a held-out combination are trained on, only not together.
    for combo in flat - set(HELDOUT_WORDS):
        colour, shape = combo.split()
        assert colour in train_words and shape in train_words
    assert summary['num_dropped_sentences'] > 0
    assert summary['splits']['heldout']['sentences'] == len(by_split['heldout'])
    with open(osp.join(root, HELDOUT_FILE)) as f:
        info = json.load(f)
    assert info['heldout_splits'] == ['heldout'] and 'red star' in info['combinations']


def test_heldout_split_loads_with_the_refcoco_dataset(heldout):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    root, summary, _ = heldout
    init_default_scope('desa2va_mm')
    dataset = DATASETS.build(dict(
        type='RefCocoReferringDataset', data_root=root + '/', ann_file='refcoco/instances.json',
        split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
        split='heldout', test_mode=True, pipeline=[]))
    sentences = [s for i in range(len(dataset))
                 for o in dataset.get_data_info(i)['instances'] for s in o['sentences']]
    assert len(sentences) == summary['splits']['heldout']['sentences']
    assert all(heldout_items(s) for s in sentences)


def test_heldout_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="heldout_splits must name one or more of the "
                       r"splits \['train', 'val', 'heldout'\], got \['test'\]"):
        make_heldout_refcoco(str(tmp_path), 4, 0, heldout_splits=('test', ))
    with pytest.raises(ValueError, match='every split'):
        make_heldout_refcoco(str(tmp_path), 4, 0, split_fractions=(('a', 1.0), ),
                             heldout_splits=('a', ))


@pytest.mark.slow
def test_generator_clis_write_both_new_splits(tmp_path):
    out = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/dataset_converters/make_synthetic_refcoco.py'),
         '--out', str(tmp_path / 'held'), '--num-images', '30', '--heldout', 'heldout',
         '--quiet'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert 'held out in heldout: words big, biggest, to' in out.stdout
    assert osp.isfile(tmp_path / 'held' / HELDOUT_FILE)
    out = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/dataset_converters/make_synthetic_mevis.py'),
         '--out', str(tmp_path / 'mp'), '--num-videos', '4', '--num-frames', '4',
         '--layout', 'motion_pairs', '--quiet'], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '16 expressions (0 multi-object)' in out.stdout
