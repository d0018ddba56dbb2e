"""tools/quickstart.sh: the default chain (referring segmentation, DeSa2VA's stages in one
process) and TASK=gcg|vp|qa: each task's data, training, test and baselines.

Small task sets are written first (the quickstart keeps existing data), and sixty training
iterations stand in for the task's budget; the learning figures themselves are in
docs/gcg.md, docs/visual_prompts.md and docs/qa_eval.md.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def _quickstart(tmp_path, task, **env):
    env = dict(os.environ, TASK=task, TASK_ITERS='60', NUM_IMAGES='40', OMP_NUM_THREADS='2',
               WORK_DIR=str(tmp_path / 'work'), DATA_ROOT=str(tmp_path / 'refcoco'), **env)
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'quickstart.sh')],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'done' in proc.stdout.splitlines()[-1]
    return proc.stdout


def _python(*args):
    subprocess.run([sys.executable, *args], cwd=REPO_ROOT, check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_gcg_task(tmp_path):
    root = tmp_path / 'gcg'
    _python('tools/dataset_converters/make_synthetic_gcg.py', '--out', str(root),
            '--num-images', '16')
    out = _quickstart(tmp_path, 'gcg', GCG_DATA_ROOT=str(root))
    assert '(60 iterations)' in out and 'majority caption + whole image' in out
    assert 'margin over the best baseline (CIDEr):' in out


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_vp_task(tmp_path):
    root = tmp_path / 'osprey'
    _python('tools/dataset_converters/make_synthetic_osprey.py', '--out', str(root),
            '--num-images', '16', '--val-fraction', '0.25', '--seed', '1')
    out = _quickstart(tmp_path, 'vp', VP_DATA_ROOT=str(root))
    assert '(60 iterations)' in out
    header = next(line for line in out.splitlines() if line.split() == ['exact', 'colour',
                                                                         'shape'])
    assert header


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_qa_task(tmp_path):
    root = tmp_path / 'mcq'
    _python('-m', 'desa2va_mm.synthetic.qa_mcq', '--llava', '--out', f'{root}_train',
            '--num-questions', '8', '--seed', '1', '--circular')
    _python('-m', 'desa2va_mm.synthetic.qa_mcq', '--out', f'{root}/synthetic_mcq.tsv',
            '--num-questions', '4', '--seed', '2', '--circular')
    out = _quickstart(tmp_path, 'qa', MCQ_ROOT=str(root))
    assert '(60 iterations)' in out and 'rows=16' in out
    assert 'margin over the best constant (accuracy):' in out


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_refer_chain_trains_every_stage_tests_and_scores_baselines_in_one_process(tmp_path):
    out = _quickstart(tmp_path, 'refer', STAGE0_ITERS='60', PRETRAIN_ITERS='60',
                      DECOUPLE_ITERS='110', FUSION_ITERS='60')
    work = tmp_path / 'work'
    for stage, iters in (('stage0', 60), ('pretrain', 60), ('decouple', 110), ('fusion', 60)):
        assert (work / stage / f'iter_{iters}.pth').is_file(), stage
    # Each stage started from the one before it.
    log = (work / 'decouple' / 'desa2va_tiny_decouple.py').read_text()
    assert f"load_from = '{work}/pretrain/iter_60.pth'" in log
    steps = [line for line in out.splitlines() if line.startswith('[run_steps')]
    assert len(steps) == 7 and steps[-1].endswith('6 steps done')  # one process
    assert 'step 5/6: tools/test.py configs/desa2va/desa2va_tiny_fusion.py' in out
    assert 'margin over the best baseline (cIoU):' in out and 'curves:' in out


def test_unknown_task_is_refused(tmp_path):
    proc = subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'quickstart.sh')],
                          cwd=REPO_ROOT, env=dict(os.environ, TASK='caption'),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "TASK must be refer, gcg, vp or qa, got 'caption'" in proc.stderr
