"""tools/analysis_tools/measure_mi.py: figures on known data, argument errors, and an
end-to-end run on the tiny DeSa2VA model (slow)."""
import json
import math
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import measure_mi  # noqa: E402

TINY = osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_decouple.py')


def _embedded_pairs(n=1500, rho=0.8, seed=0):
    """2 correlated pairs hidden in 32-d prompts: I = -log(1 - rho^2) on 2 components."""
    rng = np.random.default_rng(seed)
    s_x = rng.standard_normal((n, 2))
    s_y = rho * s_x + math.sqrt(1 - rho ** 2) * rng.standard_normal((n, 2))

    def embed(signal):
        rotation, _ = np.linalg.qr(rng.standard_normal((32, 32)))
        return np.concatenate([3 * signal, 0.05 * rng.standard_normal((n, 30))], 1) @ rotation
    return embed(s_x), embed(s_y)


def test_measure_reports_both_estimates_the_shuffled_floor_and_club():
    from desa2va_mm.models.losses import CLUBLoss
    h_t, h_v = _embedded_pairs()
    torch.manual_seed(0)
    club = CLUBLoss(x_dim=32, y_dim=32, hidden_dim=8).double()
    figures = measure_mi.measure(h_t, h_v, pca_dim=2, k=3, seed=0, club=club)
    true = -math.log(1 - 0.8 ** 2)
    assert figures['ksg'] == pytest.approx(true, abs=0.15)
    assert figures['gaussian'] == pytest.approx(true, abs=0.1)
    assert abs(figures['ksg_shuffled']) < 0.05  # no pairing, no information
    assert math.isfinite(figures['club']) and club.training  # mode restored
    table = measure_mi._table({'with_club': figures})
    assert table.splitlines()[0].split()[:4] == ['checkpoint', 'N', 'KSG', 'Gauss']
    assert table.splitlines()[2].startswith('with_club') and ' 1500 ' in table


def test_argument_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit):
        measure_mi.parse_args([TINY, str(tmp_path / 'missing.pth')])
    assert 'checkpoint file not found' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        measure_mi.parse_args([TINY, 'none', 'none', '--labels', 'a'])
    assert '--labels needs one name per checkpoint: got 1 for 2' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        measure_mi.main([osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'), 'none'])
    assert 'not a DecoupledSegHead' in capsys.readouterr().err


@pytest.mark.slow  # builds the tiny model and runs it on a synthetic split (~30 s)
def test_end_to_end_on_the_tiny_model(synthetic_refcoco, tmp_path):
    root = synthetic_refcoco + '/'
    out = tmp_path / 'mi.json'
    results = measure_mi.main([
        TINY, 'none', 'none', '--labels', 'initial', 'again', '--max-samples', '24',
        '--pca-dim', '2', '--split', 'train',  # the 32-image fixture's val split is tiny
        '--out', str(out), '--cfg-options', f'train_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}', 'train_dataloader.num_workers=0',
        'test_dataloader.num_workers=0', 'test_dataloader.batch_size=4'])
    figures = results['initial']
    assert figures['num_samples'] == 24 and figures['pca_dim'] == 2
    for key in ('ksg', 'gaussian', 'ksg_shuffled', 'club'):
        assert math.isfinite(figures[key]), key
    # h_t and h_v are two linear maps of the same [SEG] state: strongly dependent.
    assert figures['gaussian'] > 1.0
    # Each checkpoint sees the same rows (seeded target sampling): same figures.
    assert results['again'] == figures
    saved = json.loads(out.read_text())
    assert saved['mode'] == 'teacher' and saved['results']['initial'] == figures
