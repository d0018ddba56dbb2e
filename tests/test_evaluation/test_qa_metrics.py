"""MultipleChoiceMetric and MMEMetric against hand-computed scores.

Truth from the official scoring rules as documented:
* Multiple choice: VLMEvalKit's exact matching (``can_infer_option`` then
  ``can_infer_text``) and MMBench's circular evaluation (a question counts only if every
  rotated copy, ``index mod 1e6``, is right),
  https://github.com/open-compass/VLMEvalKit/blob/main/vlmeval/utils/matching_util.py and
  https://github.com/open-compass/VLMEvalKit/blob/main/vlmeval/dataset/utils/multiple_choice.py
* Video-MME: its evaluation script's ``extract_characters_regex`` (lead-ins removed, then
  the first capital option letter), https://github.com/BradyFU/Video-MME
* MME: ``eval_tool/calculation.py`` of the MME release (answers read from their first four
  characters; acc over questions, acc+ over images with both questions right; score =
  acc + acc+; perception / cognition = sums of subtask scores),
  https://github.com/BradyFU/Awesome-Multimodal-Large-Language-Models/tree/Evaluation
"""
import json

import pytest

from desa2va_mm.evaluation.metrics.mme_metric import MMEMetric, parse_yes_no
from desa2va_mm.evaluation.metrics.multiple_choice_metric import (
    MultipleChoiceMetric, extract_choice, extract_choice_video_mme)

CHOICES = {'A': 'red', 'B': 'blue', 'C': 'green', 'D': 'yellow'}


@pytest.mark.parametrize('answer,letter', [
    ('B', 'B'), ('(C)', 'C'), ('D.', 'D'), ('The answer is B.', 'B'), ('[A] red', 'A'),
    ('blue', 'B'),              # no letter: the one option text it contains
    ('It is Blue!', 'B'),       # text match is case-insensitive
    ('B or C', None),           # two letters: ambiguous
    ('red or blue', None),      # two option texts
    ('purple', None), ('', None),
    ('b', None),                # a lower-case letter is not an option letter
])
def test_extract_choice(answer, letter):
    assert extract_choice(answer, CHOICES) == letter


@pytest.mark.parametrize('answer,letter', [
    ('B', 'B'), ('The best answer is C.', 'C'), ('The answer is (D)', 'D'),
    ('Best option: A', 'A'),
    ('A man is cooking.', 'A'),    # the first capital option letter, wherever it stands
    ('the man is cooking', None),  # no capital A-D
    ('blue', None),                # option texts are not matched
    ('E', None),                   # not an option letter
])
def test_extract_choice_video_mme(answer, letter):
    assert extract_choice_video_mme(answer, CHOICES) == letter


def test_video_mme_extraction_in_the_metric():
    metric = MultipleChoiceMetric(answer_extraction='video_mme')
    metric.process({}, [_mcq('1', '1', 'B', 'The best answer is B', 'short'),
                        _mcq('2', '2', 'B', 'blue', 'long'),
                        _mcq('3', '3', 'A', 'A cat.', 'long')])
    scores = metric.compute_metrics(metric.results)
    assert scores['accuracy'] == pytest.approx(200 / 3)
    assert scores['category/short'] == 100.0 and scores['category/long'] == 50.0
    assert scores['unmatched'] == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match=r"answer_extraction must be one of \['exact_matching', "
                                         r"'mvbench', 'video_mme'\], got 'regex'"):
        MultipleChoiceMetric(answer_extraction='regex')


def _mcq(qid, group, gt, answer, category='cat'):
    return dict(question_id=qid, circular_group=group, gt_answer=gt, choices=CHOICES,
                category=category, pred_answers=[answer])


def test_circular_accuracy_vanilla_accuracy_and_categories(tmp_path):
    # Question 0 (category "attr"): four rotated copies, all right -> right.
    # Question 1 (category "count"): four copies, the last wrong -> wrong.
    # Question 2 (category "count"): one copy, its answer names no option -> wrong.
    rows = [_mcq('0', '0', 'A', 'A', 'attr'), _mcq('1000000', '0', 'B', '(B)', 'attr'),
            _mcq('2000000', '0', 'C', 'green', 'attr'), _mcq('3000000', '0', 'D', 'D', 'attr'),
            _mcq('1', '1', 'A', 'A', 'count'), _mcq('1000001', '1', 'B', 'B', 'count'),
            _mcq('2000001', '1', 'C', 'C', 'count'), _mcq('3000001', '1', 'D', 'A', 'count'),
            _mcq('2', '2', 'C', 'no idea', 'count')]
    metric = MultipleChoiceMetric(out_file=str(tmp_path / 'preds.jsonl'), prefix='mmbench')
    metric.process({}, rows)
    scores = metric.compute_metrics(metric.results)
    assert scores['accuracy'] == pytest.approx(100 * 1 / 3)
    assert scores['vanilla_accuracy'] == pytest.approx(100 * 7 / 9)
    assert scores['category/attr'] == 100.0 and scores['category/count'] == 0.0
    assert scores['unmatched'] == pytest.approx(100 * 1 / 9)
    written = [json.loads(line) for line in (tmp_path / 'preds.jsonl').read_text().splitlines()]
    assert [w['pred'] for w in written] == ['A', 'B', 'C', 'D', 'A', 'B', 'C', 'A', None]
    assert [w['correct'] for w in written] == [True] * 7 + [False, False]


def test_without_copies_accuracy_is_per_row():
    metric = MultipleChoiceMetric()
    metric.process({}, [_mcq('5', '5', 'A', 'A'), _mcq('6', '6', 'B', 'C'),
                        _mcq('7', '7', 'D', 'yellow'), _mcq('8', '8', 'A', 'A')])
    scores = metric.compute_metrics(metric.results)
    assert scores['accuracy'] == 75.0 and 'vanilla_accuracy' not in scores
    assert scores['category/cat'] == 75.0 and scores['unmatched'] == 0.0


def test_mcq_metric_errors_name_the_sample():
    metric = MultipleChoiceMetric()
    with pytest.raises(KeyError, match="q7: MultipleChoiceMetric needs 'choices'"):
        metric.process({}, [dict(question_id='q7', gt_answer='A', pred_answers=['A'])])
    with pytest.raises(ValueError, match='q8: no ground-truth answer.*QAAnswerWriter'):
        metric.process({}, [_mcq('q8', 'q8', '', 'A')])
    with pytest.raises(ValueError, match='no prediction to score'):
        metric.compute_metrics([])


@pytest.mark.parametrize('answer,parsed', [
    ('Yes', 'yes'), ('no', 'no'), ('Yes, there is a dog.', 'yes'), ('No.', 'no'),
    ('  YES', 'yes'), ('Not sure', 'no'),  # "not " contains "no": the official rule
    ('There is a dog', 'other'), ('I think yes', 'other'), ('', 'other'),
])
def test_parse_yes_no(answer, parsed):
    assert parse_yes_no(answer) == parsed


def _mme(task, image, gt, answer):
    return dict(question_id=f'{image}#{gt}', category=task, image_key=f'{task}/{image}',
                gt_answer=gt, pred_answers=[answer])


def test_mme_acc_acc_plus_and_sums():
    rows = [
        # existence: image 1 both right; image 2 one right -> acc 75, acc+ 50, score 125.
        _mme('existence', '1', 'yes', 'Yes'), _mme('existence', '1', 'no', 'No'),
        _mme('existence', '2', 'yes', 'Yes.'), _mme('existence', '2', 'no', 'Yes'),
        # color: one image, both right -> 100 + 100.
        _mme('color', '3', 'yes', 'yes'), _mme('color', '3', 'no', 'no, it is red'),
        # code_reasoning: one image, an unreadable answer and a wrong one -> 0 + 0.
        _mme('code_reasoning', '4', 'yes', 'The output is 3'),
        _mme('code_reasoning', '4', 'no', 'Yes'),
        # numerical_calculation: two images, one both right -> acc 75, acc+ 50.
        _mme('numerical_calculation', '5', 'yes', 'Yes'),
        _mme('numerical_calculation', '5', 'no', 'No'),
        _mme('numerical_calculation', '6', 'yes', 'No'),
        _mme('numerical_calculation', '6', 'no', 'No'),
    ]
    metric = MMEMetric()
    metric.process({}, rows)
    scores = metric.compute_metrics(metric.results)
    assert scores['existence/acc'] == 75.0 and scores['existence/acc_plus'] == 50.0
    assert scores['existence/score'] == 125.0 and scores['color/score'] == 200.0
    assert scores['code_reasoning/score'] == 0.0
    assert scores['numerical_calculation/acc'] == 75.0
    assert scores['perception'] == 325.0 and scores['cognition'] == 125.0
    assert 'count/acc' not in scores


def test_mme_metric_refuses_unknown_subtasks_and_missing_keys():
    metric = MMEMetric()
    metric.process({}, [_mme('colour', '1', 'yes', 'yes')])
    with pytest.raises(ValueError, match=r"unknown subtasks \['colour'\]"):
        metric.compute_metrics(metric.results)
    with pytest.raises(KeyError, match="x: MMEMetric needs 'image_key'"):
        metric.process({}, [dict(question_id='x', gt_answer='yes', category='color',
                                 pred_answers=['yes'])])
