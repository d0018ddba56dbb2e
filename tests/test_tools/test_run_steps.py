"""tools/run_steps.py: several tools/ scripts in one process, each as ``python SCRIPT``."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from tools.run_steps import main, split_steps

SCRIPT = '''
import json, os, sys
record = dict(name=__name__, argv=sys.argv, path0=sys.path[0])
with open(os.environ['RUN_STEPS_LOG'], 'a') as f:
    f.write(json.dumps(record) + '\\n')
code = sys.argv[1] if len(sys.argv) > 1 else 'none'
if code == 'text':
    sys.exit('bad input: x.json')
if code != 'none':
    sys.exit(int(code))
'''


@pytest.fixture
def script(tmp_path, monkeypatch):
    path = tmp_path / 'scripts' / 'step.py'
    path.parent.mkdir()
    path.write_text(SCRIPT)
    log = tmp_path / 'log.jsonl'
    monkeypatch.setenv('RUN_STEPS_LOG', str(log))
    return str(path), log


def records(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_steps_run_in_order_as_main_with_their_own_argv(script):
    path, log = script
    argv_before, path_before = list(sys.argv), list(sys.path)
    assert main([path, '0', 'a', ':::', path, 'none', ':::', path]) == 0
    got = records(log)
    assert [r['argv'] for r in got] == [[path, '0', 'a'], [path, 'none'], [path]]
    assert {r['name'] for r in got} == {'__main__'}
    assert {r['path0'] for r in got} == {osp.dirname(path)}  # as `python SCRIPT`
    assert sys.argv == argv_before and sys.path == path_before


@pytest.mark.parametrize('code, status', [('3', 3), ('text', 1)])
def test_a_failing_step_stops_the_chain_with_its_status(script, capsys, code, status):
    path, log = script
    assert main([path, code, ':::', path]) == status
    assert len(records(log)) == 1  # the second step never ran
    err = capsys.readouterr().err
    assert f'step 1/2 ({path}) failed with exit status {status}; later steps not run' in err
    if code == 'text':
        assert 'bad input: x.json' in err


def test_bad_chains_are_refused_before_anything_runs(script):
    path, log = script
    with pytest.raises(SystemExit, match=r"step 2 is empty \(two ':::' in a row"):
        split_steps([path, ':::', ':::', path])
    with pytest.raises(SystemExit, match='step 2 is empty'):
        split_steps([path, ':::'])
    with pytest.raises(SystemExit, match=r"step 2: script 'tools/nope.py' does not exist"):
        main([path, ':::', 'tools/nope.py'])
    assert records(log) == []


def test_help(capsys):
    assert main(['--help']) == 0
    assert 'separated by ``:::``' in capsys.readouterr().out


def _losses(work_dir):
    """Every logged training loss of a work dir's scalars.json."""
    [run] = [d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d, 'vis_data'))]
    out = []
    with open(osp.join(work_dir, run, 'vis_data', 'scalars.json')) as f:
        for line in f:
            row = json.loads(line)
            out.append({k: v for k, v in row.items() if k.startswith('loss')})
    return out


@pytest.mark.slow
def test_two_stages_in_one_process_train_exactly_as_two_processes(tmp_path):
    """Stage 0 then phase 1 from its checkpoint, chained in one process and as two
    processes: every logged loss is the same (seeds, data order and weights)."""
    data = tmp_path / 'data'
    subprocess.run([sys.executable, 'tools/dataset_converters/make_synthetic_refcoco.py',
                    '--out', str(data), '--num-images', '40', '--seed', '0'],
                   cwd=REPO_ROOT, check=True, capture_output=True)

    def stage(config, work_dir, iters, load_from):
        return ['tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options',
                f'train_dataloader.dataset.data_root={data}/', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'val_dataloader=None',
                'val_cfg=None', 'val_evaluator=None', f'train_cfg.max_iters={iters}',
                f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=10',
                f'param_scheduler.1.end={iters}', f'load_from={load_from}']

    env = dict(os.environ, OMP_NUM_THREADS='1')
    runs = {}
    for how in ('chained', 'separate'):
        first, second = tmp_path / how / 'stage0', tmp_path / how / 'pretrain'
        steps = [stage('configs/desa2va/desa2va_tiny_sam_pretrain.py', first, 60, None),
                 stage('configs/desa2va/desa2va_tiny_pretrain.py', second, 60,
                       first / 'iter_60.pth')]
        if how == 'chained':
            cmds = [[sys.executable, 'tools/run_steps.py', *steps[0], ':::', *steps[1]]]
        else:
            cmds = [[sys.executable, *step] for step in steps]
        for cmd in cmds:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr[-3000:]
        runs[how] = _losses(first) + _losses(second)
    # 7 rows a stage: iteration 2 (the first logged window) and every 10th.
    assert len(runs['chained']) == 14 and all(row for row in runs['chained'])
    assert runs['chained'] == runs['separate']


@pytest.mark.slow
def test_a_torchrun_chain_runs_every_distributed_stage(tmp_path):
    """Under torchrun each train.py step would end the process after its run (tearing the
    gloo group down with os._exit); inside run_steps the group is kept for the next step,
    and every stage trains on both ranks."""
    import socket
    data = tmp_path / 'data'
    subprocess.run([sys.executable, 'tools/dataset_converters/make_synthetic_refcoco.py',
                    '--out', str(data), '--num-images', '40', '--seed', '0'],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    options = [f'train_dataloader.dataset.data_root={data}/', 'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False', 'train_dataloader.batch_size=4',
               'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None',
               'train_cfg.max_iters=10', 'default_hooks.checkpoint.interval=10',
               'default_hooks.logger.interval=5', 'param_scheduler.1.end=600']
    first, second = tmp_path / 'stage0', tmp_path / 'pretrain'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(port), 'tools/run_steps.py',
           'tools/train.py', 'configs/desa2va/desa2va_tiny_sam_pretrain.py', '--launcher',
           'pytorch', '--work-dir', str(first), '--cfg-options', *options, ':::',
           'tools/train.py', 'configs/desa2va/desa2va_tiny_pretrain.py', '--launcher',
           'pytorch', '--work-dir', str(second), '--cfg-options', *options,
           f'load_from={first}/iter_10.pth']
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert (first / 'iter_10.pth').is_file() and (second / 'iter_10.pth').is_file()
    # Progress lines from rank 0 only; both stages ran on the two ranks.
    assert out.count('2 steps done') == 1 and out.count('step 2/2:') == 1
    assert 'Load checkpoint from ' + f'{first}/iter_10.pth' in out
    for work_dir in (first, second):
        [log] = list(work_dir.glob('*/*.log'))
        text = log.read_text()
        assert 'Distributed training: True' in text and 'GPU number: 2' in text
