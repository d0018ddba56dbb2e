"""tools/analysis_tools/ablate.py: stage plan, shared runs, table from the logs."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

from conftest import REPO_ROOT

SCRIPT = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'ablate.py')


def _load():
    spec = importlib.util.spec_from_file_location('ablate', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plan(tmp_path, *variants):
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--dry-run', '--work-dir', str(tmp_path), '--variants',
         *variants, '--stage0-iters', '30', '--pretrain-iters', '20', '--decouple-iters', '50',
         '--fusion-iters', '10'], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    stages = [line.split('] ')[1] for line in lines if line.startswith('[ablate')]
    commands = [line.strip() for line in lines if line.startswith('    ')]
    return stages, dict(zip(stages, commands))


def test_same_budget_and_phase_two_shared_where_identical(tmp_path):
    stages, cmds = _plan(tmp_path, 'sa2va', 'desa2va', 'no_reprompt', 'no_pretrain', 'no_adv')
    # The baseline trains decouple + fusion iterations after its own stage 0.
    assert 'train_cfg.max_iters=60' in cmds['sa2va'] and 'param_scheduler.1.end=60' in cmds['sa2va']
    assert 'sa2va_stage0/iter_30.pth' in cmds['sa2va']
    # no_reprompt differs in phase 3 only: it reuses desa2va's phase 2 (planned once).
    assert stages.count('desa2va_decouple') == 2  # planned for desa2va, reused by no_reprompt
    assert 'no_reprompt_decouple' not in stages
    assert 'desa2va_decouple/iter_50.pth' in cmds['no_reprompt_fusion']
    for stage in ('no_reprompt_fusion', 'no_reprompt_test'):
        assert 'model.train_cfg.reprompt_iters=0' in cmds[stage]
        assert 'model.test_cfg.reprompt_iters=0' in cmds[stage]
        assert 'custom_hooks' not in cmds[stage]
    # no_pretrain starts phase 2 from stage 0 and lets D_t train; no_adv drops the loss.
    assert 'desa2va_stage0/iter_30.pth' in cmds['no_pretrain_decouple']
    assert "model.frozen_modules=['seg_head.neck.anchor_proj']" in cmds['no_pretrain_decouple']
    assert 'desa2va_pretrain/iter_20.pth' in cmds['no_adv_decouple']
    assert 'model.seg_head.adversarial_loss=None' in cmds['no_adv_decouple']
    # Every stage runs with the same seed.
    assert all('randomness.seed=0' in c for s, c in cmds.items() if not s.endswith('_test'))


def test_table_reads_metrics_and_averages_the_last_logged_losses(tmp_path):
    ablate = _load()
    run = tmp_path / 'desa2va_fusion' / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    rows = [dict(iter=10, loss=9.0, loss_mask_text=3.0, acc_text_disc=1.0),
            dict(iter=20, loss=5.0, loss_mask_text=1.0, acc_text_disc=0.5, mi_estimate=0.2),
            dict(iter=30, loss=4.0, loss_mask_text=2.0, acc_text_disc=0.4, mi_estimate=0.4)]
    (run / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    scalars = ablate.read_train_scalars(str(tmp_path / 'desa2va_fusion'), last=2)
    assert scalars['loss_mask_text'] == 1.5 and abs(scalars['acc_text_disc'] - 0.45) < 1e-12
    assert abs(scalars['mi_estimate'] - 0.3) < 1e-12
    table = ablate.format_table({'desa2va': dict(metrics={'cIoU': 27.41, 'gIoU': 27.7},
                                                 scalars=scalars)})
    row = table.splitlines()[-1].split(' | ')
    assert row[1:3] == ['27.41', '27.70']  # metrics are already percentages
    assert '1.500' in row and '0.450' in row and '-' in row  # missing terms shown as '-'


def test_help_and_bad_data_root(tmp_path):
    out = subprocess.run([sys.executable, SCRIPT, '--help'], capture_output=True, text=True)
    assert out.returncode == 0 and '--decouple-iters' in out.stdout
    out = subprocess.run([sys.executable, SCRIPT, '--work-dir', str(tmp_path), '--data-root',
                          str(tmp_path / 'missing')], capture_output=True, text=True)
    assert out.returncode != 0 and 'missing' in out.stderr and 'make_synthetic' in out.stderr


def test_every_planned_option_passes_the_tools_key_check(tmp_path):
    """tools/train.py / test.py refuse unknown or typo'd --cfg-options keys; every key
    the plan uses must exist (or be a new leaf that is no typo) in its config."""
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
    from cli_utils import check_cfg_option_key
    from mmengine.config import Config
    _, cmds = _plan(tmp_path, *_load().VARIANTS)
    configs = {}
    for stage, cmd in cmds.items():
        argv = cmd.split()
        config = argv[1]
        opts = argv[argv.index('--cfg-options') + 1:]
        if config not in configs:
            configs[config] = Config.fromfile(osp.join(REPO_ROOT, config))._cfg_dict
        for opt in opts:
            key = opt.split('=', 1)[0]
            assert check_cfg_option_key(configs[config], key) is None, (stage, key)
