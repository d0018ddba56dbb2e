"""QA benchmarks: MMBenchDataset (VLMEvalKit's TSV), MMEDataset (the release folder),
SEEDBenchDataset (SEED-Bench.json) and VideoMMEDataset (its evaluation JSON) on small
files in the official formats; the test-only bases of configs/_base_/qa_test/ run their pipelines on them; the leaves of
configs/desa2va_qa_test/ and configs/sa2va_qa_test/ are their model plus one base."""
import ast
import base64
import copy
import csv
import glob
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT, give_real_size_tokenizer

CONFIGS = osp.join(REPO_ROOT, 'configs')
FAMILIES = {'desa2va_qa_test': 'desa2va', 'sa2va_qa_test': 'sa2va'}
SIZES = ('1b', '4b', '8b')
BENCHMARKS = {'mmbench': 'MultipleChoiceMetric', 'mme': 'MMEMetric',
              'seed_bench': 'MultipleChoiceMetric', 'video_mme': 'MultipleChoiceMetric',
              'mvbench': 'MultipleChoiceMetric'}
LEAVES = sorted(osp.relpath(p, CONFIGS) for family in FAMILIES
                for p in glob.glob(osp.join(CONFIGS, family, '*.py')))
REAL_LEAVES = [leaf for leaf in LEAVES if 'tiny' not in leaf]
INSTRUCTION = "Answer with the option's letter from the given choices directly."


def _build(cfg):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(cfg)


def _png_b64(h=20, w=30, value=90):
    img = np.full((h, w, 3), value, np.uint8)
    img[:, :, 2] = 200  # red in BGR: the decoded image must keep BGR order
    return base64.b64encode(cv2.imencode('.png', img)[1].tobytes()).decode('ascii')


def write_mmbench_tsv(path, rows=None):
    columns = ['index', 'question', 'hint', 'A', 'B', 'C', 'D', 'answer', 'category',
               'l2-category', 'split', 'image']
    rows = rows if rows is not None else [
        dict(index='0', question='What colour is the wall?', hint='A room.', A='red',
             B='blue', C='green', D='white', answer='A', category='attribute_recognition',
             image=_png_b64()),
        # A circular copy: options rotated by one, the image named by its original's index.
        dict(index='1000000', question='What colour is the wall?', hint='A room.', A='blue',
             B='green', C='white', D='red', answer='D', category='attribute_recognition',
             image='0'),
        # Three options (D blank) and no hint.
        dict(index='7', question='How many cats?', hint='', A='1', B='2', C='3', D='',
             answer='B', category='counting', image=_png_b64(10, 12)),
    ]
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter='\t', lineterminator='\n',
                                restval='')
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_mme(root):
    """Two subtasks, one in each layout of the release."""
    os.makedirs(osp.join(root, 'existence'))
    cv2.imwrite(osp.join(root, 'existence', '000000006040.jpg'), np.zeros((8, 8, 3), np.uint8))
    with open(osp.join(root, 'existence', '000000006040.txt'), 'w') as f:
        f.write('Is there a train in this image? Please answer yes or no.\tYes\n'
                'Is there a bed in this image? Please answer yes or no.\tNo\n')
    for sub in ('images', 'questions_answers_YN'):
        os.makedirs(osp.join(root, 'artwork', sub))
    cv2.imwrite(osp.join(root, 'artwork', 'images', '10002.jpg'), np.zeros((6, 9, 3), np.uint8))
    with open(osp.join(root, 'artwork', 'questions_answers_YN', '10002.txt'), 'w') as f:
        f.write('Is this artwork by Titian? Please answer yes or no.\tYes\r\n'
                'Is this artwork by Rembrandt? Please answer yes or no.\tNo\r\n')
    return root


def write_seed_bench(root):
    os.makedirs(osp.join(root, 'SEED-Bench-image'))
    cv2.imwrite(osp.join(root, 'SEED-Bench-image', '1454426_2591111986.jpg'),
                np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(osp.join(root, 'SEED-Bench-image', '99_1.png'), np.zeros((5, 7, 3), np.uint8))
    questions = [
        dict(answer='A', choice_a='One', choice_b='Two', choice_c='Three', choice_d='Four',
             data_id='1454426_2591111986', data_type='image',
             question='How many towels are in the image?', question_id='101669',
             question_type_id=5),
        dict(answer='C', choice_a='a', choice_b='b', choice_c='c', choice_d='d',
             data_id='99_1.png', data_type='image', question='Which?', question_id='7',
             question_type_id=1),
        dict(answer='B', choice_a='x', choice_b='y', choice_c='z', choice_d='w',
             data_id='v.mp4', data_type='video', question='What happens?',
             question_id='9', question_type_id=10),
    ]
    with open(osp.join(root, 'SEED-Bench.json'), 'w') as f:
        json.dump(dict(questions=questions,
                       question_type={'Scene Understanding': 1, 'Instance Counting': 5,
                                      'Action Recognition': 10}), f)
    return root


def write_video_mme(root):
    """Two videos: one a frame folder named by its videoID, one an MP4 named by video_id."""
    frames = osp.join(root, 'videos', 'fFjv93ACGo8')
    os.makedirs(frames)
    for t in range(6):
        cv2.imwrite(osp.join(frames, f'{t:05d}.jpg'), np.full((24, 32, 3), 20 * t, np.uint8))
    writer = cv2.VideoWriter(osp.join(root, 'videos', '002.mp4'),
                             cv2.VideoWriter_fourcc(*'mp4v'), 5, (32, 24))
    for t in range(6):
        writer.write(np.full((24, 32, 3), 30 * t, np.uint8))
    writer.release()
    videos = [
        dict(video_id='001', videoID='fFjv93ACGo8', duration='short', domain='Knowledge',
             sub_category='Astronomy', questions=[
                 dict(question_id='001-1', task_type='Counting Problem',
                      question='How many planets are shown?',
                      options=['A. 1.', 'B. 2.', 'C. 3.', 'D. 4.'], answer='C'),
                 dict(question_id='001-2', task_type='Object Recognition',
                      question='What is shown first?',
                      options=['A. Mars.', 'B. Venus.', 'C. Earth.', 'D. Moon.'], answer='A')]),
        dict(video_id='002', duration='long', domain='Sports Competition',
             sub_category='Football', questions=[
                 dict(question_id='002-1', task_type='Action Recognition',
                      question='What does the player do?',
                      options=['A. Runs.', 'B. Jumps.', 'C. Sits.', 'D. Kicks.'],
                      answer='D')]),
    ]
    with open(osp.join(root, 'video_mme.json'), 'w') as f:
        json.dump(videos, f)
    return root


# ------------------------------------------------------------------ datasets
def test_mmbench_rows_prompts_images_and_circular_groups(tmp_path):
    path = write_mmbench_tsv(str(tmp_path / 'mmbench' / 'MMBench_DEV_EN.tsv'))
    ds = _build(dict(type='MMBenchDataset', data_root=str(tmp_path / 'mmbench'),
                     ann_file='MMBench_DEV_EN.tsv', test_mode=True, pipeline=[],
                     serialize_data=False))
    assert len(ds) == 3
    first, copy_, third = (ds[i] for i in range(3))
    assert first['prompt'] == ('A room.\nWhat colour is the wall?\nA. red\nB. blue\nC. green\n'
                               f'D. white\n{INSTRUCTION}')
    assert first['prompts'] == [[dict(user='<image>\n' + first['prompt'], assistant=None)]]
    assert first['choices'] == dict(A='red', B='blue', C='green', D='white')
    assert (first['gt_answer'], copy_['gt_answer']) == ('A', 'D')
    assert first['circular_group'] == copy_['circular_group'] == '0'
    assert (first['question_id'], copy_['question_id']) == ('0', '1000000')
    # The copy decodes its original's image (BGR, as LoadImageFromFile gives).
    assert first['img'].shape == (20, 30, 3) and first['img'][0, 0].tolist() == [90, 90, 200]
    assert np.array_equal(first['img'], copy_['img'])
    assert first['img_path'] == 'MMBench_DEV_EN.tsv#index=0'
    assert third['prompt'] == f'How many cats?\nA. 1\nB. 2\nC. 3\n{INSTRUCTION}'
    assert third['choices'] == {'A': '1', 'B': '2', 'C': '3'} and third['category'] == 'counting'
    assert third['img'].shape == (10, 12, 3) and third['ori_shape'] == (10, 12)
    assert osp.isfile(path)


@pytest.mark.parametrize('row,message', [
    (dict(index='1', question='q', A='a', B='b', answer='C', image='x'),
     r"row 2 \(index 1\): answer 'C' is not one of the options \['A', 'B'\]"),
    (dict(index='1', question='q', A='a', answer='A', image='x'),
     'row 2 .*fewer than two options'),
    (dict(index='1000001', question='q', A='a', B='b', answer='A', image='1'),
     "index 1000001: image '1' names no row holding an image"),
])
def test_mmbench_errors_name_the_row(tmp_path, row, message):
    write_mmbench_tsv(str(tmp_path / 'm.tsv'), [row])
    with pytest.raises(ValueError, match=message):
        _build(dict(type='MMBenchDataset', data_root=str(tmp_path), ann_file='m.tsv',
                    test_mode=True, pipeline=[]))


def test_mmbench_undecodable_image_is_named(tmp_path):
    write_mmbench_tsv(str(tmp_path / 'm.tsv'), [dict(
        index='3', question='q', A='a', B='b', answer='A',
        image=base64.b64encode(b'not an image at all' * 5).decode())])
    ds = _build(dict(type='MMBenchDataset', data_root=str(tmp_path), ann_file='m.tsv',
                     test_mode=True, pipeline=[], serialize_data=False))
    with pytest.raises(ValueError, match=r'm.tsv#index=3: the image column does not decode'):
        ds[0]


def test_mme_reads_both_release_layouts(tmp_path):
    root = write_mme(str(tmp_path / 'MME_Benchmark_release_version'))
    ds = _build(dict(type='MMEDataset', data_root=root, subtasks=['existence', 'artwork'],
                     test_mode=True, pipeline=[], serialize_data=False))
    items = [ds[i] for i in range(len(ds))]
    assert [i['question_id'] for i in items] == [
        'existence/000000006040#0', 'existence/000000006040#1', 'artwork/10002#0',
        'artwork/10002#1']
    assert [i['gt_answer'] for i in items] == ['yes', 'no', 'yes', 'no']
    assert items[0]['prompt'] == ('Is there a train in this image? Please answer yes or no. '
                                  'Answer the question using a single word or phrase.')
    assert items[2]['img_path'] == osp.join(root, 'artwork', 'images', '10002.jpg')
    assert items[2]['image_key'] == items[3]['image_key'] == 'artwork/10002'
    assert items[0]['category'] == 'existence'
    with pytest.raises(FileNotFoundError, match='no subtask folder .*count'):
        _build(dict(type='MMEDataset', data_root=root, subtasks=['count'], pipeline=[]))
    with pytest.raises(ValueError, match=r"unknown subtasks \['colour'\]"):
        _build(dict(type='MMEDataset', data_root=root, subtasks=['colour'], pipeline=[]))
    with open(osp.join(root, 'existence', '000000006040.txt'), 'a') as f:
        f.write('Is there a cat?\tmaybe\n')
    with pytest.raises(ValueError, match=r'000000006040.txt: line 3 should be'):
        _build(dict(type='MMEDataset', data_root=root, subtasks=['existence'], pipeline=[]))


def test_seed_bench_keeps_image_questions(tmp_path):
    root = write_seed_bench(str(tmp_path / 'seed_bench'))
    ds = _build(dict(type='SEEDBenchDataset', data_root=root, ann_file='SEED-Bench.json',
                     data_prefix=dict(img_path='SEED-Bench-image/'), test_mode=True,
                     pipeline=[], serialize_data=False))
    assert len(ds) == 2  # the video question is left out
    first, second = ds[0], ds[1]
    assert first['prompt'] == ('How many towels are in the image?\nA. One\nB. Two\nC. Three\n'
                               f'D. Four\n{INSTRUCTION}')
    assert first['img_path'].endswith('SEED-Bench-image/1454426_2591111986.jpg')
    assert second['img_path'].endswith('SEED-Bench-image/99_1.png')
    assert (first['category'], second['category']) == ('Instance Counting',
                                                       'Scene Understanding')
    assert (first['gt_answer'], second['gt_answer']) == ('A', 'C')
    os.remove(osp.join(root, 'SEED-Bench-image', '99_1.png'))
    with pytest.raises(FileNotFoundError, match=r'question 1 \(question_id 7\): image'):
        _build(dict(type='SEEDBenchDataset', data_root=root, ann_file='SEED-Bench.json',
                    data_prefix=dict(img_path='SEED-Bench-image/'), pipeline=[]))


def test_video_mme_questions_videos_and_durations(tmp_path):
    root = write_video_mme(str(tmp_path / 'video_mme'))
    cfg = dict(type='VideoMMEDataset', data_root=root, ann_file='video_mme.json',
               data_prefix=dict(video_path='videos/'), test_mode=True, pipeline=[],
               serialize_data=False)
    ds = _build(cfg)
    items = [ds[i] for i in range(len(ds))]
    assert [i['question_id'] for i in items] == ['001-1', '001-2', '002-1']
    assert items[0]['prompt'] == (f'How many planets are shown?\nA. 1.\nB. 2.\nC. 3.\nD. 4.\n'
                                  f'{INSTRUCTION}')
    assert items[0]['choices'] == {'A': '1.', 'B': '2.', 'C': '3.', 'D': '4.'}
    assert items[0]['video_path'] == osp.join(root, 'videos', 'fFjv93ACGo8')
    assert items[2]['video_path'] == osp.join(root, 'videos', '002.mp4')
    assert [i['category'] for i in items] == ['short', 'short', 'long']
    assert [i['gt_answer'] for i in items] == ['C', 'A', 'D']
    assert all(i['modality'] == 'video' for i in items)
    assert len(_build(dict(cfg, durations=['long']))) == 1
    os.remove(osp.join(root, 'videos', '002.mp4'))
    with pytest.raises(FileNotFoundError, match=r'video 1 \(video_id 002\): no video'):
        _build(cfg)


# ------------------------------------------------------------------ bases and leaves
@pytest.fixture(scope='module')
def qa_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('qa_data'))
    write_mmbench_tsv(osp.join(root, 'data/mmbench/MMBench_DEV_EN.tsv'))
    write_mme(osp.join(root, 'data/mme/MME_Benchmark_release_version'))
    write_seed_bench(osp.join(root, 'data/seed_bench'))
    write_video_mme(osp.join(root, 'data/video_mme'))
    from test_mvbench import write_mvbench
    write_mvbench(osp.join(root, 'data/mvbench'))
    return root


@pytest.mark.parametrize('bench', sorted(BENCHMARKS))
def test_base_pipeline_packs_what_its_metric_reads(bench, qa_data):
    """The base's test set at real size (stand-in tokenizer): the prompt is tokenised after
    the image, the metric's keys are packed, and the metric scores the packed samples."""
    import torch
    from mmengine.evaluator import Evaluator
    cfg = Config.fromfile(osp.join(CONFIGS, f'_base_/qa_test/{bench}.py'))
    assert cfg.test_cfg == dict(type='TestLoop') and cfg.qa_max_new_tokens == 1024
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg.data_root = osp.join(qa_data, ds_cfg.data_root)
    ds_cfg.serialize_data = False
    if bench == 'mme':
        ds_cfg.subtasks = ['existence', 'artwork']
    if bench == 'mvbench':
        from test_mvbench import TASKS
        ds_cfg.tasks = list(TASKS)
    dataset = _build(ds_cfg)
    tokenizer = give_real_size_tokenizer(dataset)
    evaluator = Evaluator(cfg.test_evaluator.to_dict())  # as the runner builds it
    assert type(evaluator.metrics[0]).__name__ == BENCHMARKS[bench]
    for idx in range(len(dataset)):
        sample = dataset[idx]['data_samples']
        ids = sample.input_ids[0].tolist()
        tokenize = next(t for t in dataset.pipeline.transforms
                        if type(t).__name__ == 'TokenizeConversation')
        expected = tokenize({'prompts': [[dict(user='<image>\n' + sample.prompt,
                                                assistant=None)]],
                             'num_tiles': len(sample.pixel_values)})['input_ids'][0]
        assert ids == expected.tolist()
        assert ids.count(tokenizer.convert_tokens_to_ids('<img>')) == 1
        assert sample.gt_answer and sample.question_id
        # Answer right on every row.
        answer = sample.gt_answer.capitalize() if bench == 'mme' else sample.gt_answer
        sample.set_metainfo(dict(pred_answers=[answer]))
        evaluator.process([{k: v for k, v in sample.to_dict().items()
                            if not isinstance(v, torch.Tensor)}], {})
    metrics = evaluator.evaluate(len(dataset))
    if bench == 'mme':
        assert metrics['mme/perception'] == 400.0  # existence and artwork: 200 each
    else:
        prefix = cfg.test_evaluator.prefix
        assert metrics[f'{prefix}/accuracy'] == 100.0


def _parts(leaf):
    family, model, size, bench = re.fullmatch(
        r'(\w+_qa_test)/(desa2va|sa2va)_([148]b)_(\w+)\.py', leaf).groups()
    assert FAMILIES[family] == model and bench in BENCHMARKS, leaf
    return model, size, bench


def test_every_model_size_and_benchmark_has_one_leaf():
    assert sorted(_parts(leaf) for leaf in REAL_LEAVES) == sorted(
        (model, size, bench) for model in FAMILIES.values() for size in SIZES
        for bench in BENCHMARKS)
    for family in FAMILIES:
        with open(osp.join(CONFIGS, family, 'README.md'), encoding='utf-8') as f:
            readme = f.read()
        for bench in BENCHMARKS:
            assert f'_{{1b,4b,8b}}_{bench}.py' in readme, (family, bench)


@pytest.mark.parametrize('leaf', REAL_LEAVES)
def test_leaf_is_its_model_on_its_benchmark_with_the_qa_budget(leaf):
    model, size, bench = _parts(leaf)
    with open(osp.join(CONFIGS, leaf), encoding='utf-8') as f:
        tree = ast.parse(f.read())
    assigned = {node.targets[0].id: ast.unparse(node.value) for node in tree.body}
    assert assigned['_base_'] == str([f'../_base_/models/{model}_{size}.py',
                                      f'../_base_/qa_test/{bench}.py'])
    assert set(assigned) == {'_base_', 'model'}
    cfg = Config.fromfile(osp.join(CONFIGS, leaf))
    model_base = Config.fromfile(osp.join(CONFIGS, f'_base_/models/{model}_{size}.py'))
    extra = dict(max_new_tokens=1024)
    if model == 'desa2va':
        extra['train_phase'] = 'fusion'
        assert cfg.model.seg_head.type == 'DecoupledSegHead'
    else:
        assert cfg.model.seg_head.type == 'Sa2VASegHead'
    assert cfg.model.to_dict() == dict(model_base.model.to_dict(), **extra)
    assert cfg.test_evaluator.type == BENCHMARKS[bench]
    assert 'train_dataloader' not in cfg and 'optim_wrapper' not in cfg


def test_tiny_leaf_reads_the_synthetic_tsv(tmp_path):
    from desa2va_mm.synthetic.qa_mcq import write_mcq_tsv
    write_mcq_tsv(str(tmp_path / 'synthetic_mcq.tsv'), num_questions=2, circular=True)
    cfg = Config.fromfile(osp.join(CONFIGS, 'sa2va_qa_test/sa2va_tiny_synthetic_mmbench.py'))
    assert cfg.model.max_new_tokens == 8  # the tiny model's own budget
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg.data_root = str(tmp_path)
    dataset = _build(ds_cfg)
    assert len(dataset) == 8
    sample = dataset[1]['data_samples']
    assert sample.question_id == '1000000' and sample.circular_group == '0'
    assert sample.pixel_values.shape == (1, 3, 112, 112)
    assert sample.prompt.startswith('What colour is the ')
    assert sample.choices[sample.gt_answer] in ('red', 'green', 'blue', 'yellow', 'purple',
                                                'orange')
