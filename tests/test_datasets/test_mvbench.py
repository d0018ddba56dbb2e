"""MVBench: MVBenchDataset on hand-written files in video_chat2's layout, the official
frame sampling (get_index), its check_ans answer reading, per-task accuracy and mean."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

#: The two tasks of the fixture: a video task with clip bounds and the frame-folder task.
TASKS = ('Action Sequence', 'Episodic Reasoning')
VIDEO_FPS = 10
NUM_VIDEO_FRAMES = 40


def _build(cfg):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(cfg)


def write_mvbench(root):
    """Action Sequence: one mp4 of 40 frames at 10 fps whose frame i has grey level 5 i, two
    questions with (start, end) bounds. Episodic Reasoning: a folder of 9 frames
    00001.jpg .. 00009.jpg (grey 20 i), one question."""
    import av
    folder = osp.join(root, 'video', 'star', 'Charades_v1_480')
    os.makedirs(folder)
    with av.open(osp.join(folder, 'ABC12.mp4'), mode='w') as container:
        stream = container.add_stream('libx264', rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 24, 'yuv420p'
        stream.options = {'crf': '0'}
        for i in range(NUM_VIDEO_FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 5 * i, np.uint8),
                                               format='bgr24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = osp.join(root, 'video', 'tvqa', 'frames_fps3_hq', 'clip_01')
    os.makedirs(frames)
    for i in range(1, 10):
        cv2.imwrite(osp.join(frames, '%05d.jpg' % i), np.full((24, 32, 3), 20 * i, np.uint8))
    os.makedirs(osp.join(root, 'json'))
    with open(osp.join(root, 'json', 'action_sequence.json'), 'w') as f:
        json.dump([
            dict(video='ABC12.mp4', question='What did the person do first?',
                 candidates=['Opened the door.', 'Sat on the bed.', 'Took a cup.'],
                 answer='Sat on the bed.', start=1.0, end=3.0),
            dict(video='ABC12.mp4', question='What happened next?',
                 candidates=['Ate.', 'Slept.', 'Ran.', 'Read.'], answer='Ran.',
                 start=0.0, end=100.0)], f)
    with open(osp.join(root, 'json', 'episodic_reasoning.json'), 'w') as f:
        json.dump([dict(video='clip_01', question='Who enters?', candidates=['Ross', 'Joey'],
                        answer='Joey', start=0.5, end=2.0)], f)
    return root


@pytest.fixture(scope='module')
def mvbench_root(tmp_path_factory):
    return write_mvbench(str(tmp_path_factory.mktemp('mvbench')))


def test_frame_indices_follow_the_official_get_index():
    from desa2va_mm.datasets.transforms import mvbench_frame_indices

    # No bound: 100 frames, seg = 99 / 4 = 24.75; centres 12.375 + round(24.75 i), where
    # round(49.5) = 50 (halves to even, as NumPy).
    assert mvbench_frame_indices(4, 99, 10.0) == [12, 37, 62, 86]
    # Bound 1 s .. 3 s at 10 fps: frames 10 .. 30, seg 5.
    assert mvbench_frame_indices(4, 99, 10.0, (1.0, 3.0)) == [12, 17, 22, 27]
    # Frame folders count from 1: start clamps to 1, end to the number of files.
    assert mvbench_frame_indices(3, 9, 3.0, (0.0, 10.0), first_idx=1) == [2, 5, 7]


def test_items_prompts_and_answers_in_the_official_template(mvbench_root):
    ds = _build(dict(type='MVBenchDataset', data_root=mvbench_root, tasks=list(TASKS),
                     test_mode=True))
    assert len(ds) == 3
    first = ds.get_data_info(0)
    assert first['question_id'] == 'action_sequence/0'
    assert first['category'] == 'Action Sequence'
    assert first['choices'] == {'A': 'Opened the door.', 'B': 'Sat on the bed.',
                                'C': 'Took a cup.'}
    assert first['gt_answer'] == 'B'
    assert first['mvbench_bound'] == (1.0, 3.0) and first['mvbench_data_type'] == 'video'
    assert first['video_path'].endswith('video/star/Charades_v1_480/ABC12.mp4')
    assert first['prompt'].split('\n')[1:] == [
        'Question: What did the person do first?', 'Options:', '(A) Opened the door.',
        '(B) Sat on the bed.', '(C) Took a cup.', 'Only give the best option.']
    assert first['prompt'].startswith('Carefully watch the video')
    assert first['prompts'][0][0]['user'] == '<image>\n' + first['prompt']
    last = ds.get_data_info(2)
    assert (last['gt_answer'], last['mvbench_data_type']) == ('B', 'frame')
    assert last['video_path'].endswith('video/tvqa/frames_fps3_hq/clip_01')


def test_frames_are_the_officially_sampled_ones(mvbench_root):
    from desa2va_mm.registry import TRANSFORMS
    ds = _build(dict(type='MVBenchDataset', data_root=mvbench_root, tasks=list(TASKS),
                     test_mode=True))
    load = TRANSFORMS.build(dict(type='LoadMVBenchFrames', num_frames=4, tile_size=28))
    # Video with bound 1 s .. 3 s at 10 fps -> frames 12, 17, 22, 27 (grey 5 i).
    out = load(ds.get_data_info(0))
    assert out['frame_ids'] == [12, 17, 22, 27]
    # The decoded frames at those indices (grey 5 i up to the codec's colour conversion).
    from desa2va_mm.datasets import VideoFileFrameSource
    every = list(VideoFileFrameSource(out['video_path']))
    assert len(every) == NUM_VIDEO_FRAMES
    for frame, i in zip(out['frames'], [12, 17, 22, 27]):
        np.testing.assert_array_equal(frame, every[i])
    greys = [float(f.mean()) for f in out['frames']]
    np.testing.assert_allclose(greys, [60, 85, 110, 135], atol=4)
    assert out['pixel_values'].shape == (4, 3, 28, 28) and out['num_tiles'] == 4
    # Bound past the end: clipped to the last frame (39): seg 39 / 4.
    assert load(ds.get_data_info(1))['frame_ids'] == [4, 14, 24, 33]
    # Frame folder, 3 fps, bound 0.5 s .. 2 s: files 00002 .. 00006.
    out = load(ds.get_data_info(2))
    assert out['frame_ids'] == [2, 3, 4, 5]
    np.testing.assert_allclose([float(f.mean()) for f in out['frames']], [40, 60, 80, 100],
                               atol=3)


def test_errors_name_the_file_and_question(mvbench_root, tmp_path):
    with pytest.raises(ValueError, match="unknown task.*'Nope'"):
        _build(dict(type='MVBenchDataset', data_root=mvbench_root, tasks=['Nope']))
    with pytest.raises(FileNotFoundError, match=r"task 'Action Antonym'.*action_antonym.json"):
        _build(dict(type='MVBenchDataset', data_root=mvbench_root, tasks=['Action Antonym']))
    os.makedirs(tmp_path / 'json')
    (tmp_path / 'json' / 'action_sequence.json').write_text(json.dumps(
        [dict(video='v.mp4', question='q', candidates=['x', 'y'], answer='z', start=0,
              end=1)]))
    with pytest.raises(ValueError, match=r"action_sequence.json: question 0: answer 'z' is "
                       r'not one of the candidates'):
        _build(dict(type='MVBenchDataset', data_root=str(tmp_path),
                    tasks=['Action Sequence']))
    (tmp_path / 'json' / 'action_sequence.json').write_text(json.dumps(
        [dict(video='v.mp4', question='q', candidates=['x', 'y'], answer='x')]))
    with pytest.raises(ValueError, match=r'question 0: task .Action Sequence. reads a clip'):
        _build(dict(type='MVBenchDataset', data_root=str(tmp_path),
                    tasks=['Action Sequence']))


@pytest.mark.parametrize('answer,letter', [
    ('B', 'B'), ('B.', 'B'), ('B)', 'B'), ('(B) Sat on the bed.', 'B'), ('b', 'B'),
    ('C) Took a cup.\nBecause ...', 'C'), ('A dog', 'A'),
    ('The answer is B', None), ('', None), (' B', 'B'), ('D', None)])
def test_mvbench_answer_reading_is_check_ans(answer, letter):
    from desa2va_mm.evaluation.metrics.multiple_choice_metric import extract_choice_mvbench
    choices = {'A': 'Opened the door.', 'B': 'Sat on the bed.', 'C': 'Took a cup.'}
    assert extract_choice_mvbench(answer, choices) == letter


def test_metric_reports_each_task_and_their_mean():
    from desa2va_mm.evaluation.metrics import MultipleChoiceMetric
    metric = MultipleChoiceMetric(answer_extraction='mvbench', category_mean=True,
                                  prefix='mvbench')
    choices = {'A': 'x', 'B': 'y'}
    rows = [('t1', 'A', 'A'), ('t1', 'B', 'A'), ('t1', 'A', 'A'), ('t1', 'B', 'B'),
            ('t2', 'B', 'A'), ('t2', 'A', 'A')]
    metric.process({}, [dict(question_id=str(i), choices=choices, gt_answer=gt, category=c,
                             pred_answers=[pred]) for i, (c, gt, pred) in enumerate(rows)])
    metrics = metric.evaluate(len(rows))
    assert metrics['mvbench/category/t1'] == 75.0
    assert metrics['mvbench/category/t2'] == 50.0
    assert metrics['mvbench/category_mean'] == 62.5
    assert metrics['mvbench/accuracy'] == pytest.approx(100 * 4 / 6)
