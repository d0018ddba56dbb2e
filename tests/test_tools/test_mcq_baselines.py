"""tools/analysis_tools/mcq_baselines.py: constant answers scored by the config's metric."""
import collections
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'mcq_baselines.py')
CONFIG = osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny_qa.py')


def test_mcq_baselines_cli(tmp_path):
    from desa2va_mm.synthetic.qa_mcq import CIRCULAR_STRIDE, mcq_rows, write_mcq_tsv
    rows = mcq_rows(seed=2, num_questions=12, circular=True)
    write_mcq_tsv(str(tmp_path / 'synthetic_mcq.tsv'), rows=rows)
    model_json = tmp_path / 'model.json'
    model_json.write_text(json.dumps({'synthetic_mcq/accuracy': 60.0,
                                      'synthetic_mcq/vanilla_accuracy': 70.0}))
    proc = subprocess.run(
        [sys.executable, TOOL, CONFIG, '--model-metrics', str(model_json), '--cfg-options',
         f'test_dataloader.dataset.data_root={tmp_path}/'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert 'rows=48' in lines
    scores = {line[:24].strip(): [float(v) for v in line[24:].split()] for line in lines
              if line.startswith(('letter', 'text', 'best', 'model'))}
    # A constant letter is right in exactly one of the four rotations of each question:
    # 25% of the rows, no question right in all four.
    for letter in 'ABCD':
        assert scores[f'letter {letter}'] == [0.0, 25.0]
    # A constant colour is right on every rotation of the questions whose answer it is.
    right = collections.Counter(r[r['answer']] for r in rows if int(r['index']) < CIRCULAR_STRIDE)
    for colour, n in right.items():
        assert scores[f'text "{colour}"'] == [pytest.approx(100 * n / 12, abs=0.006)] * 2
    best = 100 * max(right.values()) / 12
    assert scores['best constant'] == [pytest.approx(best, abs=0.006)] * 2
    assert scores['model'] == [60.0, 70.0]
    assert f'margin over the best constant (accuracy): {60.0 - best:+.2f} points' in lines
