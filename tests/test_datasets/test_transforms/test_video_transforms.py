"""Video sampling transforms: documented key frames, training clips, expression draws."""
import numpy as np
import pytest

from desa2va_mm.datasets.transforms import (LoadVideoAnnotations, LoadVideoFrames,
                                            SampleVideoExpressions, SampleVideoFrames,
                                            select_key_frames)
from desa2va_mm.datasets.transforms.sample_video_frames import sample_train_frames


@pytest.mark.parametrize('n,k,strategy,expected', [
    (20, 5, 'first', [0, 1, 2, 3, 4]),
    (20, 5, 'uniform', [0, 5, 10, 14, 19]),   # round(0, 4.75, 9.5, 14.25, 19)
    (9, 5, 'uniform', [0, 2, 4, 6, 8]),
    (6, 3, 'uniform', [0, 2, 5]),             # 2.5 rounds half to even
    (100, 1, 'uniform', [0]),
    (3, 5, 'first', [0, 1, 2]),               # shorter than K: every frame once
    (3, 5, 'uniform', [0, 1, 2]),
    (1, 5, 'first', [0]),                     # a 1-frame video
    (1, 5, 'uniform', [0]),
    (5, 5, 'uniform', [0, 1, 2, 3, 4]),
])
def test_key_frames_are_the_documented_ones(n, k, strategy, expected):
    assert select_key_frames(n, k, strategy).tolist() == expected


def test_key_frames_match_the_pipelines_rule():
    # The test pipeline's key frames are select_key_frames' on every length, whether the
    # video is a dataset item (frame_paths) or an opened source (the inferencer's input).
    from desa2va_mm.datasets.video_io import ArrayFrameSource
    from desa2va_mm.structures.key_frames import select_key_frames as rule
    frames = [np.zeros((2, 2, 3), np.uint8)] * 79
    for strategy in ('first', 'uniform'):
        for n in range(1, 80):
            for k in (1, 2, 3, 5, 8):
                step = SampleVideoFrames(mode='test', num_key_frames=k,
                                         key_frame_strategy=strategy)
                expected = rule(n, k, strategy).tolist()
                assert step(dict(frame_paths=['f.jpg'] * n))['key_frame_ids'].tolist() == \
                    expected, (n, k, strategy)
                source = ArrayFrameSource(frames[:n])
                assert step(dict(video_source=source))['key_frame_ids'].tolist() == \
                    expected, (n, k, strategy)


def test_key_frame_arguments_are_checked():
    with pytest.raises(ValueError, match="strategy must be one of"):
        select_key_frames(10, 5, 'random')
    with pytest.raises(ValueError, match='>= 1 frame'):
        select_key_frames(0, 5)
    with pytest.raises(ValueError, match='key_frame_strategy'):
        SampleVideoFrames(mode='test', key_frame_strategy='middle')


def test_train_clips_are_sorted_and_contiguous_half_the_time():
    rng = np.random.default_rng(0)
    contiguous = 0
    for _ in range(400):
        ids = sample_train_frames(30, 5, 0.5, rng)
        assert len(ids) == 5 and np.all(np.diff(ids) > 0) and ids.min() >= 0 and ids.max() < 30
        contiguous += bool(np.all(np.diff(ids) == 1))
    # Random distinct frames are contiguous with probability 26 / C(30, 5) ~ 2e-4.
    assert 160 <= contiguous <= 240
    assert all(np.all(np.diff(sample_train_frames(30, 5, 1.0, rng)) == 1) for _ in range(20))
    # Shorter than T: every frame once plus repeats, sorted.
    for n in (1, 2, 4):
        ids = sample_train_frames(n, 5, 0.5, rng)
        assert len(ids) == 5 and set(ids.tolist()) == set(range(n))
        assert np.all(np.diff(ids) >= 0)


def test_sample_video_frames_sets_the_contract_keys():
    results = dict(video_id='v', frame_paths=[f'{i}.jpg' for i in range(12)])
    out = SampleVideoFrames(mode='test', key_frame_strategy='uniform', num_key_frames=4)(
        dict(results))
    assert out['key_frame_ids'].tolist() == [0, 4, 7, 11]
    assert out['frame_ids'].tolist() == [0, 4, 7, 11]
    np.random.seed(1)
    out = SampleVideoFrames(mode='train', num_frames=5)(dict(results))
    assert len(out['frame_ids']) == 5 and 'key_frame_ids' not in out
    with pytest.raises(ValueError, match="video 'v' has zero frames"):
        SampleVideoFrames()(dict(video_id='v', frame_paths=[]))


def _video(num_exps=4):
    return dict(video_id='v', expressions=[
        dict(exp_id=str(i), expression=f'thing {i}', type_id=i % 2,
             mask_source=dict(anno_ids=[str(i)])) for i in range(num_exps)])


def test_sample_video_expressions_modes():
    out = SampleVideoExpressions(mode='all')(_video())
    assert out['exp_ids'] == ['0', '1', '2', '3'] and out['type_ids'] == [0, 1, 0, 1]
    assert out['expressions'] == ['thing 0', 'thing 1', 'thing 2', 'thing 3']
    np.random.seed(0)
    draws = set()
    for _ in range(50):
        out = SampleVideoExpressions(mode='random', num_expressions=2)(_video())
        assert len(out['exp_ids']) == 2 and len(set(out['exp_ids'])) == 2
        assert [e['exp_id'] for e in out['expression_infos']] == out['exp_ids']
        draws.add(tuple(out['exp_ids']))
    assert len(draws) > 6  # drawn anew at every load
    out = SampleVideoExpressions(mode='random', num_expressions=5)(_video(2))
    assert sorted(out['exp_ids']) == ['0', '1']
    out = SampleVideoExpressions(mode='random', num_expressions=5,
                                 pad_with_replacement=True)(_video(2))
    assert len(out['exp_ids']) == 5 and set(out['exp_ids']) == {'0', '1'}
    video = _video(2)
    for e in video['expressions']:
        e['mask_source'] = None
    with pytest.raises(ValueError, match="video 'v': no expression with a mask"):
        SampleVideoExpressions(mode='random')(video)


def test_load_video_frames_from_arrays_checks_sizes():
    frames = [np.full((8, 10, 3), i, np.uint8) for i in range(6)]
    results = dict(video_id='v', video_source=frames, frame_ids=np.array([1, 4]), height=8,
                   width=10)
    out = LoadVideoFrames()(results)
    assert [int(f[0, 0, 0]) for f in out['frames']] == [1, 4]
    assert out['ori_shape'] == (8, 10) and out['img_shape'] == (8, 10)
    results.update(height=9)
    with pytest.raises(ValueError, match=r"video 'v', frame 1 \('00001'\): size 8x10 differs"):
        LoadVideoFrames()(results)


def test_load_video_annotations_requires_sampled_expressions():
    with pytest.raises(KeyError, match='SampleVideoExpressions before'):
        LoadVideoAnnotations()(dict(video_id='v', height=2, width=2, mask_rles={}))
    with pytest.raises(ValueError, match="mode must be 'train' or 'test'"):
        LoadVideoAnnotations(mode='val')
