"""model_fingerprint.py: --help, value comparison, layout upgrade, and a record / compare run."""
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT

SCRIPT = f'{REPO_ROOT}/tools/analysis_tools/model_fingerprint.py'


def _load():
    from tools.analysis_tools import model_fingerprint
    return model_fingerprint


def test_help_names_both_commands():
    out = subprocess.run([sys.executable, SCRIPT, '--help'], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    assert 'record' in out.stdout and 'compare' in out.stdout


def test_values_are_compared_bit_for_bit_and_names_follow_the_layout():
    fp = _load()
    a = torch.tensor([1.0, 2.0])
    assert fp._compare_values(a, a.clone()) == (True, 0.0)
    same, diff = fp._compare_values(a, a + 1e-7)
    assert not same and diff == pytest.approx(1.1920928955078125e-07)
    assert fp._compare_values(a, a[:1])[1] == float('inf')
    assert fp._compare_values(torch.tensor([True, False]), torch.tensor([False, False])) == \
        (False, 1.0)
    assert fp._compare_values('x', 'x') == (True, None)
    # Gradients recorded under the earlier layout's names compare with today's.
    assert fp._upgrade_name('grad/neck.text_proj.weight') == \
        'grad/seg_head.neck.text_proj.weight'
    assert fp._upgrade_name('gradsum/mllm.model.lm_head.weight') == \
        'gradsum/mllm.model.lm_head.weight'
    assert fp._upgrade_name('loss/loss_adv') == 'loss/loss_adv'


@pytest.mark.slow
def test_record_then_compare_detects_a_changed_weight(tmp_path):
    ref = str(tmp_path / 'fp.pth')
    run = dict(capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    out = subprocess.run([sys.executable, SCRIPT, 'record', '--out', ref, '--models', 'sa2va'],
                         **run)
    assert out.returncode == 0, out.stderr[-2000:]
    out = subprocess.run([sys.executable, SCRIPT, 'compare', ref], **run)
    assert out.returncode == 0 and '[fingerprint] OK' in out.stdout, out.stdout[-2000:]
    record = torch.load(ref, weights_only=True)
    state = record['models']['sa2va']['state_dict']
    state['seg_head.text_hidden_fcs.mlp.0.bias'] += 1e-3
    torch.save(record, ref)
    out = subprocess.run([sys.executable, SCRIPT, 'compare', ref], **run)
    assert out.returncode == 1 and 'DIFFERS' in out.stdout, out.stdout[-2000:]
