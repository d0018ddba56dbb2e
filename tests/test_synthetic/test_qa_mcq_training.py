"""Synthetic multiple-choice questions as LLaVA training data, and the tiny QA config."""
import copy
import json
import os.path as osp

import cv2
import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny_qa.py')


def _build(cfg):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    return DATASETS.build(cfg)


def test_llava_records_ask_what_the_mmbench_dataset_asks(tmp_path):
    from desa2va_mm.datasets.mmbench_dataset import MCQ_INSTRUCTION, build_mcq_prompt
    from desa2va_mm.synthetic.qa_mcq import (CIRCULAR_STRIDE, MCQ_INSTRUCTION as OURS,
                                             mcq_rows, write_mcq_llava)
    assert OURS == MCQ_INSTRUCTION
    counts = write_mcq_llava(str(tmp_path), seed=3, num_questions=5, circular=True)
    assert counts == dict(questions=5, records=20)
    records = json.load(open(tmp_path / 'synthetic_mcq_train.json'))
    rows = mcq_rows(seed=3, num_questions=5, circular=True)
    assert len(records) == len(rows) == 20
    for record, row in zip(records, rows):
        options = {k: row[k] for k in 'ABCD'}
        user, answer = record['conversations']
        assert (user['from'], answer['from']) == ('human', 'gpt')
        assert user['value'] == '<image>\n' + build_mcq_prompt(row['question'], options)
        letter = row['answer']
        assert answer['value'] == f'{letter}. {options[letter]}'
        assert record['image'] == f"images/{int(row['index']) % CIRCULAR_STRIDE}.png"
    # One picture per question, the TSV's own pixels; circular copies rotate the options.
    first = cv2.imread(str(tmp_path / 'images' / '0.png'))
    encoded = cv2.imdecode(np.frombuffer(__import__('base64').b64decode(rows[0]['image']),
                                         np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(first, encoded)
    letters = {r['conversations'][1]['value'][0] for r in records[:4]}
    assert len(letters) == 4  # the right colour sits under each letter once


def test_tiny_qa_config_trains_on_the_records_with_every_word_known(tmp_path):
    from desa2va_mm.synthetic.qa_mcq import MCQ_WORDS, write_mcq_llava
    cfg = Config.fromfile(CONFIG)
    assert tuple(cfg.qa_tokenizer.words) == MCQ_WORDS
    assert cfg.model.mllm.tokenizer == cfg.qa_tokenizer  # the model reads the same words
    write_mcq_llava(str(tmp_path), seed=1, num_questions=2, circular=True)
    member = copy.deepcopy(cfg.qa_members.mcq)
    member.data_root = str(tmp_path)
    dataset = _build(member)
    assert len(dataset) == 8
    sample = dataset[0]['data_samples']
    from desa2va_mm.registry import TOKENIZERS
    tokenizer = TOKENIZERS.build(cfg.qa_tokenizer)
    ids = np.asarray(sample.input_ids).reshape(-1).tolist()
    text = tokenizer.decode(ids)
    assert '[UNK]' not in text
    assert "answer with the option ' s letter from the given choices directly" in text
    assert sample.pixel_values.shape == (1, 3, 112, 112)
    # Only the answer is supervised: "<letter> . <colour>" and the end of turn.
    labels = np.asarray(sample.labels).reshape(-1).tolist()
    supervised = tokenizer.decode([i for i in labels if i >= 0])
    record = json.load(open(tmp_path / 'synthetic_mcq_train.json'))[0]
    assert supervised.startswith(record['conversations'][1]['value'].lower().replace('.', ' .'))
