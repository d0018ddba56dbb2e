"""tools/analysis_tools/analyze_logs.py on MMEngine JSON scalar logs.

The logs are written line by line in the format MMEngine's ``LocalVisBackend`` writes
(training lines with ``iter`` and ``step``; validation lines with the metrics and, under
``log_metric_by_epoch``, ``step`` 0); ``test_real_run_log`` reads one a real run wrote.
"""
import json
import os
import os.path as osp

import pytest

from tools.analysis_tools.analyze_logs import (load_scalar_log, main, resolve_log,
                                               train_time)


def _write_run(work_dir, timestamp, lines):
    vis = osp.join(work_dir, timestamp, 'vis_data')
    os.makedirs(vis, exist_ok=True)
    for name in ('scalars.json', f'{timestamp}.json'):
        with open(osp.join(vis, name), 'w') as f:
            f.writelines(json.dumps(line) + '\n' for line in lines)
    return osp.join(vis, 'scalars.json')


def _train_line(it, loss, time):
    return {'lr': 1e-4, 'data_time': 0.01, 'loss': loss, 'loss_mask_fused': loss / 2,
            'loss_dice': loss / 4, 'time': time, 'iter': it, 'step': it}


LINES = [
    _train_line(10, 2.0, 0.9),   # start-up interval: an outlier
    _train_line(20, 1.5, 0.3),
    {'cIoU': 20.0, 'gIoU': 25.0, 'data_time': 0.5, 'time': 0.7, 'step': 0},
    _train_line(30, 1.2, 0.5),
    _train_line(40, 1.0, 0.4),
    {'cIoU': 30.0, 'gIoU': 33.0, 'data_time': 0.5, 'time': 0.7, 'step': 0},
]


@pytest.fixture
def run(tmp_path):
    work = str(tmp_path / 'work')
    _write_run(work, '20260101_000000', LINES[:2])  # an older run of the same work dir
    path = _write_run(work, '20260102_000000', LINES)
    return work, path


def test_series_and_validation_steps(run):
    _, path = run
    log = load_scalar_log(path)
    assert log.train['loss'] == ([10, 20, 30, 40], [2.0, 1.5, 1.2, 1.0])
    # Validation is drawn at the iteration it followed, not at its logged step 0; its
    # timings are not training times.
    assert log.val['cIoU'] == ([20, 40], [20.0, 30.0])
    assert log.train['time'][1] == [0.9, 0.3, 0.5, 0.4]
    assert 'time' not in log.val and 'iter' not in log.train and 'step' not in log.train
    assert log.expand(['loss*', 'cIoU', 'loss']) == ['loss', 'loss_dice', 'loss_mask_fused',
                                                     'cIoU']


def test_resolve_log_accepts_files_runs_and_work_dirs(run, tmp_path):
    work, path = run
    run_dir = osp.dirname(osp.dirname(path))
    timestamped = osp.join(run_dir, 'vis_data', '20260102_000000.json')
    assert resolve_log(work) == path  # the newest run
    assert resolve_log(run_dir) == path
    assert resolve_log(timestamped) == timestamped
    assert load_scalar_log(timestamped).train == load_scalar_log(path).train
    with pytest.raises(FileNotFoundError, match='no <timestamp>/vis_data/scalars.json'):
        resolve_log(str(tmp_path))
    text_log = tmp_path / 'run.log'
    text_log.write_text('INFO ...')
    with pytest.raises(ValueError, match='run.log: not a JSON scalar log'):
        resolve_log(str(text_log))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1, "iter": 1}\nnot json\n')
    with pytest.raises(ValueError, match='bad.json, line 2: not JSON'):
        load_scalar_log(str(bad))


def test_plot_curve_writes_png_and_pdf(run, tmp_path, capsys):
    work, path = run
    out = str(tmp_path / 'figs' / 'curves.png')
    labels = main(['plot_curve', work, path, '--keys', 'loss', 'loss_mask_fused', '--legend',
                   'a_loss', 'a_fused', 'b_loss', 'b_fused', '--title', 'two runs',
                   '--style', 'dark', '--out', out])
    assert labels == ['a_loss', 'a_fused', 'b_loss', 'b_fused']
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert f'save curve to: {out}' in capsys.readouterr().out
    pdf = str(tmp_path / 'curves.pdf')
    labels = main(['plot_curve', work, '--keys', 'loss*', 'cIoU', '--subplots', '--out', pdf])
    assert labels == [f'{work}_{k}' for k in ('loss', 'loss_dice', 'loss_mask_fused', 'cIoU')]
    with open(pdf, 'rb') as f:
        assert f.read(5) == b'%PDF-'


def test_plot_curve_errors_name_the_run_and_key(run, tmp_path, capsys):
    work, path = run
    out = str(tmp_path / 'c.png')
    with pytest.raises(SystemExit) as exc:
        main(['plot_curve', work, '--keys', 'loss_clubb', '--out', out])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert f"{path} has no key 'loss_clubb'; its keys: cIoU, data_time, gIoU, loss" in err
    with pytest.raises(SystemExit):
        main(['plot_curve', work, '--keys', 'loss', '--legend', 'a', 'b', '--out', out])
    assert '--legend has 2 labels for 1 curves' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['plot_curve', work, '--style', 'no-such-style', '--out', out])
    assert "--style 'no-such-style': unknown" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the Agg backend of a headless test machine
        main(['plot_curve', work, '--backend', 'agg'])
    assert 'pass --out curves.png' in capsys.readouterr().err
    assert not os.path.exists(out)


def test_cal_train_time(run, capsys):
    _, path = run
    stats = main(['cal_train_time', path])
    (s, ) = stats
    # The first interval (0.9 s/iter) is left out of the statistics, not of the total.
    assert s['mean'] == pytest.approx(0.4)
    assert (s['slowest'], s['slowest_iter'], s['fastest'], s['fastest_iter']) == \
        (0.5, 30, 0.3, 20)
    assert s['total_s'] == pytest.approx(10 * (0.9 + 0.3 + 0.5 + 0.4))
    assert s['iterations'] == 40
    out = capsys.readouterr().out
    assert 'average iter time: 0.4000 s/iter' in out
    assert 'training time: 21.0 s (0.01 h) for 40 iterations' in out
    (s, ) = main(['cal_train_time', path, '--include-outliers'])
    assert s['mean'] == pytest.approx(0.525)


def test_cal_train_time_per_epoch_outliers(tmp_path):
    lines = [dict(time=t, iter=i, epoch=e, step=i, loss=1.0)
             for i, (t, e) in enumerate([(5, 1), (1, 1), (1, 1), (7, 2), (3, 2)], 1)]
    path = _write_run(str(tmp_path), '20260101_000000', lines)
    s = train_time(load_scalar_log(path))
    assert s['mean'] == pytest.approx((1 + 1 + 3) / 3)  # each epoch's first line left out
    with pytest.raises(KeyError, match='no training `time`'):
        no_time = _write_run(str(tmp_path / 'b'), '20260101_000000',
                             [dict(loss=1.0, iter=1, step=1)])
        train_time(load_scalar_log(no_time))


@pytest.mark.slow
def test_real_run_log(tmp_path):
    """A real tools/train.py run (the toy config: 4 iterations, validation every 2)."""
    import subprocess
    import sys
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=osp.join(repo, 'tests', 'data'), OMP_NUM_THREADS='1')
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        env.pop(key, None)
    work = str(tmp_path / 'toy')
    proc = subprocess.run([sys.executable, osp.join(repo, 'tools', 'train.py'),
                           osp.join(repo, 'tests', 'data', 'configs', 'toy_ref.py'),
                           '--work-dir', work], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = load_scalar_log(resolve_log(work))
    assert log.train['loss'][0] == [1, 2, 3, 4]
    assert log.val['toy/acc'][0] == [2, 4]
    out = str(tmp_path / 'toy.png')
    proc = subprocess.run([sys.executable, osp.join(repo, 'tools', 'analysis_tools',
                                                    'analyze_logs.py'), 'plot_curve', work,
                           '--keys', 'loss', 'toy/acc', '--out', out],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert os.path.getsize(out) > 0


@pytest.mark.parametrize('argv, flags', [
    (['--help'], ['plot_curve', 'cal_train_time']),
    (['plot_curve', '--help'], ['--keys', '--legend', '--out', '--title', '--style',
                                '--backend', '--subplots']),
    (['cal_train_time', '--help'], ['--include-outliers']),
])
def test_help(argv, flags, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in flags)
