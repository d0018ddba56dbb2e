"""tools/analysis_tools/ablate.py: equal budgets, shared runs, seed statistics, tables."""
import importlib.util
import json
import math
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SCRIPT = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'ablate.py')
ITERS = dict(stage0=30, pretrain=20, decouple=50, fusion=10, video=40)


def _load():
    spec = importlib.util.spec_from_file_location('ablate', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plan(capsys, tmp_path, *variants, seeds=('0', ), extra=()):
    """The dry run's stages, their commands and the budget table, run in-process."""
    capsys.readouterr()
    _load().main(['--dry-run', '--work-dir', str(tmp_path), '--variants', *variants,
                  '--seeds', *seeds, '--stage0-iters', '30', '--pretrain-iters', '20',
                  '--decouple-iters', '50', '--fusion-iters', '10', '--video-iters', '40',
                  *extra])
    lines = capsys.readouterr().out.splitlines()
    stages, cmds = [], {}
    for line, nxt in zip(lines, lines[1:]):
        if line.startswith('[ablate seed'):
            name = line.split()[2] + '/' + line.split('] ')[1]  # "<seed>/<stage>"
            stages.append(name)
            cmds[name] = nxt.strip()
    budget = {}
    for line in lines:
        cells = [c.strip() for c in line.strip('|').split('|')]
        if line.startswith('| ') and cells[0] in _load().VARIANTS:
            budget[cells[0]] = dict(zip(('stage0', 'pretrain', 'decouple', 'fusion', 'main',
                                         'video', 'total'), cells[1:8]))
    return stages, cmds, budget


def _max_iters(cmd):
    return int(next(o for o in cmd.split() if o.startswith('train_cfg.max_iters='))
               .split('=')[1])


def test_every_variant_trains_the_same_total_iterations(capsys, tmp_path):
    core = ('sa2va', 'desa2va', 'no_pretrain', 'no_adv', 'no_mi', 'no_fusion', 'no_reprompt')
    stages, cmds, budget = _plan(capsys, tmp_path, *core, 'image_only', 'with_video')
    total = ITERS['stage0'] + ITERS['pretrain'] + ITERS['decouple'] + ITERS['fusion']
    for name in core:
        assert int(budget[name]['total']) == total, (name, budget[name])
    # The baseline trains phase 1's iterations as its own: stage 0 + one main run of
    # pretrain + decouple + fusion, the same stage 0 length as DeSa2VA's.
    assert budget['sa2va']['main'] == str(80) and budget['sa2va']['stage0'] == '30'
    assert _max_iters(cmds['0/sa2va']) == 80 and 'param_scheduler.1.end=80' in cmds['0/sa2va']
    assert _max_iters(cmds['0/sa2va_stage0']) == _max_iters(cmds['0/desa2va_stage0']) == 30
    # no_pretrain moves phase 1's iterations into phase 2.
    assert _max_iters(cmds['0/no_pretrain_decouple']) == 70
    # The image_only / with_video pair: the same extra budget, image or video iterations.
    assert int(budget['image_only']['total']) == int(budget['with_video']['total']) \
        == total + ITERS['video']
    assert _max_iters(cmds['0/image_only_fusion']) == 50
    assert _max_iters(cmds['0/desa2va_video']) == 40
    assert 'desa2va_fusion/iter_10.pth' in cmds['0/desa2va_video']
    assert '0/with_video_test' in stages
    # Tested on the image split with the video word list in model and pipeline.
    assert 'desa2va_video/iter_40.pth' in cmds['0/with_video_test']
    assert 'model.mllm.tokenizer.vocabulary=synthetic_mevis' in cmds['0/with_video_test']


def test_runs_shorter_than_the_warmup_warm_up_over_their_first_half(capsys, tmp_path):
    ablate = _load()
    assert ablate.short_run_warmup('configs/desa2va/desa2va_tiny_decouple.py', 101) == []
    assert ablate.short_run_warmup('configs/desa2va/desa2va_tiny_decouple.py', 100) == [
        'param_scheduler.0.end=50', 'param_scheduler.1.begin=50']  # its warm-up: 100
    _, cmds, _ = _plan(capsys, tmp_path, 'desa2va')
    assert 'param_scheduler.0.end=25' in cmds['0/desa2va_decouple']  # 50 iterations
    assert 'param_scheduler.0.end=15' in cmds['0/desa2va_stage0']  # 30 of its 50


def test_stage_plan_sums_and_no_pretrain_keeps_the_budget():
    ablate = _load()
    for name, spec in ablate.VARIANTS.items():
        plan = ablate.stage_plan(spec, 300, 300, 600, 200, video=100)
        extra = 100 if 'extra' in spec else 0
        assert sum(i for _, i in plan) == 1400 + extra, name
        assert plan[0] == ('stage0', 300), name
    assert ablate.stage_plan(ablate.VARIANTS['no_pretrain'], 3, 5, 7, 11) == [
        ('stage0', 3), ('decouple', 12), ('fusion', 11)]
    assert ablate.stage_plan(ablate.VARIANTS['sa2va'], 3, 5, 7, 11) == [('stage0', 3),
                                                                         ('main', 23)]


def test_shared_runs_and_seeds(capsys, tmp_path):
    stages, cmds, _ = _plan(capsys, tmp_path, 'desa2va', 'no_reprompt', 'no_pretrain', 'no_adv',
                            seeds=('0', '3'))
    for seed in ('0', '3'):
        # no_reprompt differs in phase 3 only: it reuses desa2va's phase 2, planned once.
        assert stages.count(f'{seed}/desa2va_decouple') == 1
        assert f'{seed}/no_reprompt_decouple' not in stages
        assert 'desa2va_decouple/iter_50.pth' in cmds[f'{seed}/no_reprompt_fusion']
        for stage in ('no_reprompt_fusion', 'no_reprompt_test'):
            assert 'model.train_cfg.reprompt_iters=0' in cmds[f'{seed}/{stage}']
            assert 'model.test_cfg.reprompt_iters=0' in cmds[f'{seed}/{stage}']
        assert f'seed{seed}/desa2va_stage0/iter_30.pth' in cmds[f'{seed}/no_pretrain_decouple']
        assert "model.frozen_modules=['seg_head.neck.anchor_proj']" in \
            cmds[f'{seed}/no_pretrain_decouple']
        assert 'desa2va_pretrain/iter_20.pth' in cmds[f'{seed}/no_adv_decouple']
        assert 'model.seg_head.adversarial_loss=None' in cmds[f'{seed}/no_adv_decouple']
        # Every training stage of a seed runs with that seed, in its own folder.
        for stage, cmd in cmds.items():
            if stage.startswith(seed + '/') and not stage.endswith('_test'):
                assert f'randomness.seed={seed}' in cmd and f'seed{seed}/' in cmd


def test_video_ablation_plan(capsys, tmp_path):
    stages, cmds, _ = _plan(capsys, tmp_path, 'sa2va', 'desa2va', 'no_adv', extra=('--video', ))
    assert '0/no_adv_video' in stages and '0/desa2va_video' in stages
    # The baseline trains its own architecture's tiny video config from its image run.
    cmd = cmds['0/sa2va_video']
    assert 'configs/sa2va/sa2va_tiny_video.py' in cmd and 'sa2va/iter_' in cmd
    assert 'seg_head.adversarial_loss' not in cmd and _max_iters(cmd) == 40
    assert 'synthetic_mevis/valid_u/' in cmds['0/sa2va_video_test']
    cmd = cmds['0/no_adv_video']
    assert 'configs/desa2va_video/desa2va_tiny_video.py' in cmd
    assert 'no_adv_fusion/iter_10.pth' in cmd and 'model.seg_head.adversarial_loss=None' in cmd
    assert _max_iters(cmd) == 40 and 'synthetic_mevis/train/' in cmd
    assert 'synthetic_mevis/valid_u/' in cmds['0/no_adv_video_test']


def test_mean_std_and_t_interval_by_hand():
    ablate = _load()
    mean, std = ablate.mean_std([1.0, 2.0, 6.0])
    assert mean == 3.0 and abs(std - math.sqrt(7.0)) < 1e-12  # ((4 + 1 + 9) / 2) ** 0.5
    assert math.isnan(ablate.mean_std([5.0])[1])
    with pytest.raises(ValueError, match='at least one'):
        ablate.mean_std([])
    # Differences 1, 2, 3: mean 2, std 1; t(0.975, 2) = 4.302653 -> half 4.302653 / sqrt(3).
    assert abs(ablate.t_quantile(0.975, 2) - 4.302653) < 1e-6
    mean, low, high = ablate.paired_interval([11.0, 12.0, 13.0], [10.0, 10.0, 10.0])
    half = 4.302653 / math.sqrt(3)
    assert mean == 2.0 and abs(low - (2 - half)) < 1e-5 and abs(high - (2 + half)) < 1e-5
    mean, low, high = ablate.paired_interval([1.0], [3.0])
    assert mean == -2.0 and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match='equal'):
        ablate.paired_interval([1.0, 2.0], [1.0])


def test_verdicts():
    ablate = _load()
    assert ablate.verdict(0.5, 2.0) == 'helps'
    assert ablate.verdict(-3.0, -0.1) == 'hurts'
    assert ablate.verdict(-0.5, 2.0) == 'unresolved'
    assert ablate.verdict(0.0, 1.0) == 'unresolved'
    assert ablate.verdict(float('nan'), float('nan')) == 'unresolved'


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

    def res(ciou, giou, scal=None):
        return dict(metrics={'refcoco/cIoU': ciou, 'refcoco/gIoU': giou}, scalars=scal or {})

    results = {
        'desa2va': {0: res(20.0, 21.0, scalars), 1: res(22.0, 23.0, scalars),
                    2: res(24.0, 25.0, scalars)},
        # Paired differences -1, -2, -3: mean -2, std 1, interval -2 ± 2.48 -> includes 0.
        'no_adv': {0: res(19.0, 20.0), 1: res(20.0, 21.0), 2: res(21.0, 22.0)},
        # Differences -10, -10.5, -9.5: the interval excludes 0 -> hurts.
        'sa2va': {0: res(10.0, 9.0), 1: res(11.5, 10.0), 2: res(14.5, 12.0)},
    }
    table = ablate.format_table(results).splitlines()
    header = [c.strip() for c in table[0].strip('|').split('|')]
    rows = {r.split(' | ')[0].strip('| '): [c.strip() for c in r.strip('|').split('|')]
            for r in table[2:]}
    assert header[:6] == ['variant', 'cIoU', 'ΔcIoU [95% CI]', 'vs', 'verdict', 'gIoU']
    assert rows['desa2va'][1] == '22.00 ± 2.00' and rows['desa2va'][2:5] == ['-', '-', '-']
    assert rows['desa2va'][header.index('acc_t')] == '0.450'
    assert rows['desa2va'][header.index('L_text')] == '1.500'
    assert rows['desa2va'][header.index('L_seg')] == '-'  # terms a run does not log
    assert rows['no_adv'][2] == '-2.00 [-4.48, +0.48]' and rows['no_adv'][3] == 'desa2va'
    assert rows['no_adv'][4] == 'unresolved'
    assert rows['sa2va'][2].startswith('-10.00 [') and rows['sa2va'][4] == 'hurts'


def test_budget_table_lists_stages_totals_and_wall(tmp_path):
    ablate = _load()
    plan = dict(stage0=30, main=80)
    results = {'sa2va': {0: dict(plan=plan, walls=dict(stage0=60.0, main=120.0)),
                         1: dict(plan=plan, walls=dict(stage0=60.0, main=240.0))}}
    row = ablate.format_budget(results).splitlines()[-1]
    assert row == '| sa2va | 30 | - | - | - | 80 | - | 110 | 4.0 |'  # (180 + 300) / 2 s


@pytest.mark.slow
def test_help_bad_data_root_and_unavailable_variant(capsys, tmp_path):
    out = subprocess.run([sys.executable, SCRIPT, '--help'], capture_output=True, text=True)
    assert out.returncode == 0 and '--seeds' in out.stdout and '--jobs' in out.stdout
    out = subprocess.run([sys.executable, SCRIPT, '--work-dir', str(tmp_path), '--data-root',
                          str(tmp_path / 'missing')], capture_output=True, text=True)
    assert out.returncode != 0 and 'missing' in out.stderr and 'make_synthetic' in out.stderr
    ablate = _load()
    with pytest.raises(SystemExit):
        ablate.parse_args(['--dry-run', '--seeds', '1', '1'])
    assert '--seeds must be distinct, got [1, 1]' in capsys.readouterr().err
    why = ablate.missing_requirement(dict(requires=('SegTokenDecoupler', 'no_such_argument')))
    assert why == "SegTokenDecoupler has no constructor argument 'no_such_argument'"
    assert ablate.missing_requirement(ablate.VARIANTS['no_adv']) is None


def test_every_planned_option_passes_the_tools_key_check(capsys, tmp_path):
    """tools/train.py / test.py refuse unknown or typo'd --cfg-options keys; every key
    the plan uses must exist (or be a new leaf that is no typo) in its config."""
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
    from cli_utils import check_cfg_option_key
    from mmengine.config import Config
    ablate = _load()
    available = [n for n, s in ablate.VARIANTS.items() if ablate.missing_requirement(s) is None]
    _, cmds, _ = _plan(capsys, tmp_path, *available, extra=('--video', ))
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


def test_extra_split_tests_every_final_checkpoint_on_all_images(capsys, tmp_path):
    stages, cmds, _ = _plan(capsys, tmp_path, 'sa2va', 'desa2va', 'no_adv',
                            extra=('--extra-splits', 'heldout'))
    for name, ckpt in (('sa2va', 'sa2va/iter_'), ('desa2va', 'desa2va_fusion/iter_10.pth'),
                       ('no_adv', 'no_adv_fusion/iter_10.pth')):
        cmd = cmds[f'0/{name}_heldout_test']
        assert ckpt in cmd and 'test_dataloader.dataset.split=heldout' in cmd
        # The split's every image: the later indices option overrides --test-images.
        assert cmd.index('test_dataloader.dataset.indices=None') > cmd.index(
            'test_dataloader.dataset.indices=')
    assert 'model.seg_head.adversarial_loss=None' in cmds['0/no_adv_heldout_test']
