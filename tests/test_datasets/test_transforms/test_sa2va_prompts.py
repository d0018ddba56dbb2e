"""Sa2VA's prompts: the training templates and answers, the image and video evaluation
questions, verbatim reasoning questions (from the datasets' own fields), and the tiny
vocabulary on every prompt the tiny configs write.

The Sa2VA strings below are written out from magic-research/Sa2VA (commit d01bf3f); with
``$DESA2VA_REFERENCE_CODE`` pointing at fetched copies, the tests also read them from the
files themselves (see tests/test_evaluation/test_metrics/reference_code.py).
"""
import ast
import importlib.util
import os.path as osp
import re

import numpy as np
import pytest
from mmengine.config import Config

from conftest import REPO_ROOT
from desa2va_mm.datasets.transforms import (IMAGE_TEST_QUESTION, SA2VA_ANSWERS,
                                            SA2VA_SEG_QUESTIONS, VIDEO_TEST_QUESTION,
                                            BuildReferringConversation)

SA2VA = 'magic-research/Sa2VA'
# projects/glamm/datasets/utils/utils.py, lines 103-123 (SEG_QUESTIONS; the same list is
# repeated in projects/llava_sam2/datasets/ReVOS_Dataset.py, lines 25-45).
SEG_QUESTIONS = [
    "Can you segment the {class_name} in this image?",
    "Please segment {class_name} in this image.",
    "What is {class_name} in this image? Please respond with segmentation mask.",
    "What is {class_name} in this image? Please output segmentation mask.",
    "Can you segment the {class_name} in this image",
    "Please segment {class_name} in this image",
    "What is {class_name} in this image? Please respond with segmentation mask",
    "What is {class_name} in this image? Please output segmentation mask",
    "Could you provide a segmentation mask for the {class_name} in this image?",
    "Please identify and segment the {class_name} in this image.",
    "Where is the {class_name} in this picture? Please respond with a segmentation mask.",
    "Can you highlight the {class_name} in this image with a segmentation mask?",
    "Could you provide a segmentation mask for the {class_name} in this image",
    "Please identify and segment the {class_name} in this image",
    "Where is the {class_name} in this picture? Please respond with a segmentation mask",
    "Can you highlight the {class_name} in this image with a segmentation mask",
]
# projects/glamm/datasets/utils/utils.py, lines 125-131 (ANSWER_LIST).
ANSWER_LIST = ["It is [SEG].", "Sure, [SEG].", "Sure, it is [SEG].",
               "Sure, the segmentation result is [SEG].", "[SEG]."]
# projects/llava_sam2/evaluation/dataset/RES.py, line 167 (get_questions).
RES_QUESTION = "<image>\n Please segment {} in this image."
# projects/llava_sam2/evaluation/dataset/refVOS.py, line 13 (SEG_PROMPT), used at line 98
# for every expression without a '?'.
REFVOS_PROMPT = "<image>\nPlease segment {}."


def _test_module(*path):
    """A helper module of another test folder, by path."""
    spec = importlib.util.spec_from_file_location(path[-1][:-3],
                                                  osp.join(REPO_ROOT, 'tests', *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_source(path):
    reference = _test_module('test_evaluation', 'test_metrics', 'reference_code.py')
    return reference.reference_source(SA2VA, path)


def _list_in(source, name):
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f'{name} not found')


def _sa2va_image_phrase(text):
    # RefCOCO_Dataset.py, lines 149-151: lower-case, one final '.' dropped.
    phrase = text.lower()
    return phrase[:-1] if phrase[-1] == '.' else phrase


def test_our_templates_are_sa2vas():
    assert SA2VA_SEG_QUESTIONS == tuple(q.replace('{class_name}', '{expression}')
                                        for q in SEG_QUESTIONS)
    assert SA2VA_ANSWERS == tuple(ANSWER_LIST)
    assert '<image>\n' + IMAGE_TEST_QUESTION.format(expression='{}') == RES_QUESTION
    assert '<image>\n' + VIDEO_TEST_QUESTION.format(expression='{}') == REFVOS_PROMPT
    t = BuildReferringConversation()
    assert t.questions == SA2VA_SEG_QUESTIONS and t.answers == SA2VA_ANSWERS
    assert t.test_question == IMAGE_TEST_QUESTION


def test_the_written_out_strings_match_sa2vas_files():
    utils = _reference_source('projects/glamm/datasets/utils/utils.py')
    assert _list_in(utils, 'SEG_QUESTIONS') == SEG_QUESTIONS
    assert _list_in(utils, 'ANSWER_LIST') == ANSWER_LIST
    revos = _reference_source('projects/llava_sam2/datasets/ReVOS_Dataset.py')
    assert _list_in(revos, 'SEG_QUESTIONS') == SEG_QUESTIONS
    assert _list_in(revos, 'ANSWER_LIST') == ANSWER_LIST
    assert "if '?' in exp:" in revos  # Sa2VA's test of a question; ours reads type_id
    res = _reference_source('projects/llava_sam2/evaluation/dataset/RES.py')
    assert 'ret.append("<image>\\n Please segment {} in this image.".format(sent))' in res
    refvos = _reference_source('projects/llava_sam2/evaluation/dataset/refVOS.py')
    assert re.search(r'^SEG_PROMPT = "<image>\\nPlease segment \{\}\."$', refvos, re.M)
    assert "SEG_PROMPT.format(exp) if '?' not in exp else exp" in refvos


def test_training_turns_are_strings_sa2va_writes_and_cover_the_set():
    texts = ['The man on the left.', 'red car', 'Woman in  a hat.']
    t = BuildReferringConversation(mode='train')
    np.random.seed(0)
    questions_seen, answers_seen = set(), set()
    for _ in range(200):
        turns = t({'text': list(texts), 'img_path': 'a.jpg'})['conversation']
        assert len(turns) == 3
        for i, (turn, text) in enumerate(zip(turns, texts)):
            phrase = ' '.join(_sa2va_image_phrase(text).split())
            # RefCOCO_Dataset.py, lines 163-167: '<image>\n' + question on the first turn.
            sa2va = {('<image>\n' if i == 0 else '') + q.format(class_name=phrase): q
                     for q in SEG_QUESTIONS}
            assert turn['user'] in sa2va, turn['user']
            assert turn['assistant'] in ANSWER_LIST
            questions_seen.add(sa2va[turn['user']])
            answers_seen.add(turn['assistant'])
    assert questions_seen == set(SEG_QUESTIONS) and answers_seen == set(ANSWER_LIST)
    np.random.seed(3)
    first = t({'text': list(texts), 'img_path': 'a.jpg'})['conversation']
    np.random.seed(3)
    assert t({'text': list(texts), 'img_path': 'a.jpg'})['conversation'] == first


def test_image_evaluation_prompt_is_sa2vas_res_question():
    out = BuildReferringConversation(mode='test')(
        {'text': ['man in red shirt', 'the left one .'], 'img_path': 'a.jpg'})
    # REFER's tokenised sentence goes in as it is (RES.py, lines 67 and 167).
    assert [p[0]['user'] for p in out['prompts']] == [
        RES_QUESTION.format('man in red shirt'), RES_QUESTION.format('the left one .')]
    assert all(p[0]['assistant'] is None for p in out['prompts'])


def test_video_evaluation_prompt_is_sa2vas_refvos_prompt():
    t = BuildReferringConversation(mode='test', test_question=VIDEO_TEST_QUESTION)
    out = t({'text': ['the cat jumping up', 'a dog running to the left'],
             'type_ids': [None, None], 'video_id': 'v0'})
    assert [p[0]['user'] for p in out['prompts']] == [
        '<image>\nPlease segment the cat jumping up.',
        '<image>\nPlease segment a dog running to the left.']
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/video_pipelines.py'))
    step = next(s for s in cfg.video_test_pipeline if s.type == 'BuildReferringConversation')
    assert step.test_question == VIDEO_TEST_QUESTION
    train = next(s for s in cfg.video_train_pipeline if s.type == 'BuildReferringConversation')
    assert train.to_dict() == dict(type='BuildReferringConversation', mode='train')


def test_revos_reasoning_expressions_are_verbatim_questions():
    """type_id 1 (reasoning) is a question whatever its punctuation; type_id 0 is an
    expression even with a '?'."""
    texts = ['Which animal is most likely to catch the ball?',
             'the object that keeps the rain off', 'the dog?']
    sample = {'text': list(texts), 'type_ids': [1, 1, 0], 'video_id': 'UVO/x'}
    test = BuildReferringConversation(mode='test', test_question=VIDEO_TEST_QUESTION)(
        dict(sample))
    assert [p[0]['user'] for p in test['prompts']] == [
        '<image>\nWhich animal is most likely to catch the ball?',
        '<image>\nthe object that keeps the rain off',
        '<image>\nPlease segment the dog?.']
    np.random.seed(0)
    turns = BuildReferringConversation(mode='train')(dict(sample))['conversation']
    assert [turn['user'] for turn in turns[:2]] == [
        '<image>\nWhich animal is most likely to catch the ball?',
        'the object that keeps the rain off']
    assert turns[2]['user'] in {q.format(class_name='the dog?') for q in SEG_QUESTIONS}
    with pytest.raises(ValueError, match=r"video 'UVO/x': 2 type_ids for 3 expressions"):
        BuildReferringConversation(mode='test')(dict(sample, type_ids=[0, 1]))


def test_reason_seg_is_sentence_decides_verbatim(tmp_path):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    write_reason_seg = _test_module('test_datasets',
                                    'test_reason_seg_dataset.py').write_reason_seg
    init_default_scope('desa2va_mm')
    root = write_reason_seg(tmp_path)
    dataset = DATASETS.build(dict(
        type='ReasonSegDataset', data_root=root, data_prefix=dict(img_path='ReasonSeg/val/'),
        test_mode=True, pipeline=[dict(type='SampleReferringTargets', mode='all'),
                                  dict(type='BuildReferringConversation', mode='test')]))
    # a.json: is_sentence true; b.json: false (the flag, not the wording, decides).
    assert [dataset[i]['prompts'][0][0]['user'] for i in range(2)] == [
        '<image>\nthe thing people sit on',
        RES_QUESTION.format('what holds the water')]
    np.random.seed(1)
    turns = BuildReferringConversation(mode='train')(
        {'text': ['What can hold water?', 'Where do people sit?'], 'is_sentence': True,
         'img_path': 'a.jpg'})['conversation']
    assert [turn['user'] for turn in turns] == ['<image>\nWhat can hold water?',
                                                'Where do people sit?']
    assert all(turn['assistant'] in ANSWER_LIST for turn in turns)


def test_template_errors_name_the_argument():
    with pytest.raises(ValueError, match='test_question needs an {expression} field'):
        BuildReferringConversation(mode='test', test_question='Please segment it.')
    with pytest.raises(ValueError, match='questions must be a non-empty list'):
        BuildReferringConversation(questions='Please segment {expression}.')
    # One template given: training and test ask it (pipelines with one question).
    t = BuildReferringConversation(mode='test', questions=('Find {expression} here.', ))
    assert t.test_question == 'Find {expression} here.'


def _tiny_tokenize(vocabulary):
    from desa2va_mm.datasets.transforms import TokenizeConversation
    return TokenizeConversation(tokenizer=dict(type='TinyWordTokenizer', vocabulary=vocabulary),
                                template='qwen2', num_image_tokens_per_tile=16, max_length=256)


def _pipeline_step(cfg_pipeline, mode):
    from desa2va_mm.registry import TRANSFORMS
    step = next(s for s in cfg_pipeline if s['type'] == 'BuildReferringConversation')
    assert step['mode'] == mode
    return TRANSFORMS.build(step)


def test_tiny_image_prompts_tokenise_fully_and_as_before(synthetic_refcoco):
    """Every prompt of the tiny image configs is known to the word vocabulary, and the
    token ids are those of the one question the published tiny figures were made with."""
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/'
                                              'synthetic_refcoco_tiny.py'))
    assert cfg.tiny_questions == ('Please segment {expression} in this image.', )
    tokenize = _tiny_tokenize('synthetic_refcoco')
    unk = tokenize.tokenizer.unk_token_id
    train = _pipeline_step(cfg.train_dataloader.dataset.pipeline, 'train')
    test = _pipeline_step(cfg.val_dataloader.dataset.pipeline, 'test')
    assert test.test_question == IMAGE_TEST_QUESTION  # Sa2VA's
    for split, build in (('train', train), ('val', test)):
        dataset = DATASETS.build(dict(type='RefCocoReferringDataset',
                                      data_root=synthetic_refcoco + '/',
                                      ann_file='refcoco/instances.json',
                                      split_file='refcoco/refs(unc).p',
                                      data_prefix=dict(img_path='train2014/'), split=split,
                                      test_mode=split != 'train', pipeline=[]))
        for i in range(len(dataset)):
            texts = [s for inst in dataset.get_data_info(i)['instances']
                     for s in inst['sentences']]
            out = tokenize(build({'text': list(texts), 'img_path': f'{split}{i}'}))
            for ids in out['input_ids']:
                assert unk not in ids.tolist(), (split, i)
            if split == 'val':
                before = tokenize({'prompts': [[{
                    'user': '<image>\nPlease segment ' + ' '.join(t.split()).rstrip('.') +
                            ' in this image.', 'assistant': None}] for t in texts]})
                assert [a.tolist() for a in out['input_ids']] == \
                    [b.tolist() for b in before['input_ids']]


def test_tiny_video_prompts_tokenise_fully_and_as_before(tmp_path):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    from desa2va_mm.synthetic import make_synthetic_mevis
    init_default_scope('desa2va_mm')
    make_synthetic_mevis(str(tmp_path), num_videos=6, num_frames=3, seed=0)
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/'
                                              'synthetic_mevis_tiny.py'))
    question = 'Please segment {expression} in this video.'
    tokenize = _tiny_tokenize('synthetic_mevis')
    unk = tokenize.tokenizer.unk_token_id
    train = _pipeline_step(cfg.train_dataloader.dataset.pipeline, 'train')
    test = _pipeline_step(cfg.val_dataloader.dataset.pipeline, 'test')
    assert train.questions == (question, ) and test.test_question == question
    checked = 0
    for split in ('train', 'valid_u'):
        dataset = DATASETS.build(dict(type='MeViSDataset', data_root=f'{tmp_path}/{split}/',
                                      test_mode=split != 'train', pipeline=[]))
        for i in range(len(dataset)):
            texts = [e['expression'] for e in dataset.get_data_info(i)['expressions']]
            results = {'text': list(texts), 'type_ids': [None] * len(texts), 'video_id': 'v'}
            for build in (train, test):
                out = tokenize(build(dict(results)))
                assert all(unk not in ids.tolist() for ids in out['input_ids'])
                checked += len(texts)
            before = tokenize({'prompts': [[{
                'user': '<image>\n' + question.format(
                    expression=' '.join(t.split()).rstrip('.')), 'assistant': None}]
                for t in texts]})
            assert [a.tolist() for a in tokenize(test(dict(results)))['input_ids']] == \
                [b.tolist() for b in before['input_ids']]
    assert checked > 10


def test_revos_config_prompts_follow_each_expressions_type_id(tmp_path):
    """The real ReVOS valid config on ReVOS-layout data: reasoning expressions (type_id 1)
    are asked verbatim, the others through Sa2VA's video evaluation question."""
    import json

    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    from desa2va_mm.testing.mini_mix import write_mini_mix
    init_default_scope('desa2va_mm')
    data = write_mini_mix(str(tmp_path)).data_root
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/revos.py'))
    valid = cfg.test_dataloader.dataset
    pipeline = valid.pipeline
    cut = next(i for i, s in enumerate(pipeline) if s.type == 'BuildReferringConversation')
    dataset = DATASETS.build(dict(valid, data_root=osp.join(data, 'revos') + '/',
                                  pipeline=pipeline[:cut + 1]))
    with open(osp.join(data, 'revos', 'meta_expressions_valid_.json'), encoding='utf-8') as f:
        videos = json.load(f)['videos']
    seen = set()
    for i in range(len(dataset)):
        out = dataset[i]
        for text, type_id, prompt in zip(out['expressions'], out['type_ids'], out['prompts']):
            exp = next(e for e in videos[out['video_id']]['expressions'].values()
                       if e['exp'] == text)
            assert type_id == exp['type_id']
            expected = text if type_id == 1 else VIDEO_TEST_QUESTION.format(expression=text)
            assert prompt[0]['user'] == '<image>\n' + expected
            seen.add(type_id)
    assert seen == {0, 1}
