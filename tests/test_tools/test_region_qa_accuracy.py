"""tools/analysis_tools/region_qa_accuracy.py: region questions scored through the inferencer."""
import collections
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys


from conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'region_qa_accuracy.py')


def _tool():
    spec = importlib.util.spec_from_file_location('region_qa_accuracy', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scores_by_field_and_the_best_constant():
    tool = _tool()
    assert tool.normalise('A Red square.<|im_end|>') == 'a red square'
    pairs = [('a red square', 'a red square'), ('a red star', 'a blue star'),
             ('a green', 'a green circle'), ('', 'a red circle')]
    assert tool.score(pairs) == dict(exact=25.0, colour=50.0, shape=50.0)
    expected = [e for _, e in pairs]
    # "a red ..." is right twice in four, "... circle" twice, no full answer twice.
    assert tool.best_constant(expected) == dict(exact=25.0, colour=50.0, shape=50.0)
    assert tool.best_constant(['a red star'] * 3 + ['a blue star']) == dict(
        exact=75.0, colour=75.0, shape=100.0)


def test_cli_on_random_weights(tmp_path):
    root = tmp_path / 'osprey'
    subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/dataset_converters/'
                                             'make_synthetic_osprey.py'),
                    '--out', str(root), '--num-images', '12', '--val-fraction', '0.5',
                    '--seed', '1'], check=True, cwd=REPO_ROOT, capture_output=True)
    out = tmp_path / 'scores.json'
    proc = subprocess.run(
        [sys.executable, TOOL, 'configs/sa2va/sa2va_tiny_vp.py', 'none', '--data-root',
         str(root), '--limit', '4', '--out', str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = json.load(open(out))
    assert scores['records'] == 4
    tool = _tool()
    train = json.load(open(root / tool.TRAIN_FILE))
    answers = collections.Counter(tool.normalise(m['value']) for r in train
                                  for m in r['conversations'] if m['from'] == 'gpt')
    assert scores['majority_answer'] == answers.most_common(1)[0][0]
    val = json.load(open(root / tool.VAL_FILE))[:4]
    expected = [tool.normalise(r['conversations'][1]['value']) for r in val]
    assert scores['best_constant'] == tool.best_constant(expected)
    assert scores['majority'] == tool.score([(scores['majority_answer'], e) for e in expected])
    assert 'best constant per field' in proc.stdout
    for key in ('exact', 'colour', 'shape'):
        assert 0.0 <= scores['model'][key] <= 100.0
    assert scores['best_constant']['colour'] >= scores['majority']['colour']


def test_missing_data_is_named(tmp_path):
    proc = subprocess.run([sys.executable, TOOL, 'configs/sa2va/sa2va_tiny_vp.py', 'none',
                           '--data-root', str(tmp_path / 'nowhere')], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'osprey_conversation_val.json does not exist' in proc.stderr
