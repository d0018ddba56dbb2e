"""QAAnswerWriter: JSONL in dataset order, written atomically."""
import json
import os

import pytest

from desa2va_mm.evaluation import QAAnswerWriter
from desa2va_mm.evaluation.metrics.qa_answer_writer import write_jsonl_atomic


def test_writes_one_line_per_sample(tmp_path):
    out = tmp_path / 'sub' / 'answers.jsonl'
    writer = QAAnswerWriter(out_file=str(out))
    writer.process({}, [dict(question_id='q1', prompt='What?', pred_answers=['A cat.']),
                        dict(question_id='q2', prompt='Où?', pred_answers=[])])
    assert writer.compute_metrics(writer.results) == dict(num_answers=2)
    lines = [json.loads(line) for line in out.read_text(encoding='utf-8').splitlines()]
    assert lines == [dict(question_id='q1', prompt='What?', answer='A cat.'),
                     dict(question_id='q2', prompt='Où?', answer='')]
    assert os.listdir(out.parent) == ['answers.jsonl']  # no temporary file left


def test_failed_write_keeps_the_previous_file(tmp_path):
    out = tmp_path / 'answers.jsonl'
    out.write_text('old\n')
    with pytest.raises(TypeError):
        write_jsonl_atomic([dict(answer=object())], str(out))
    assert out.read_text() == 'old\n' and os.listdir(tmp_path) == ['answers.jsonl']


def test_missing_keys_name_the_sample(tmp_path):
    writer = QAAnswerWriter(out_file=str(tmp_path / 'a.jsonl'))
    with pytest.raises(KeyError, match=r"img\.jpg: QAAnswerWriter needs 'question_id'"):
        writer.process({}, [dict(img_path='img.jpg', pred_answers=['x'])])
    with pytest.raises(ValueError):
        QAAnswerWriter(out_file='')
