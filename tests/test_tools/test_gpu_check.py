"""tools/analysis_tools/gpu_check.py: arguments, verdicts, the record, and a CPU run.

The fast tests drive the tool's pieces in this process (fake checks where a step would
train); the slow test runs the real CPU-mode steps in a subprocess, which is how the GPU
checks' logic stays exercised on machines without a GPU.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import types

import pytest
import torch

from conftest import REPO_ROOT

sys.path.insert(0, REPO_ROOT)
from tools.analysis_tools import gpu_check  # noqa: E402
from tools.analysis_tools.gpu_check import (CheckFailed, CheckSkipped,  # noqa: E402
                                            StepResult)

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'gpu_check.py')


# ----------------------------------------------------------------------------- arguments
def test_defaults_run_every_step_in_order():
    _, args = gpu_check.parse_args([])
    assert args.steps == ['bf16_step', 'bf16_inference', 'ddp_2gpu', 'zero2_resume',
                          'video_memory_1024']
    assert args.bf16_mask_agreement == 0.98
    assert args.device == 'auto' and args.out is None and args.ddp_equivalence
    assert args.video_lengths == [16, 64, 128]
    _, args = gpu_check.parse_args(['--steps', 'video_memory_1024', 'bf16_step',
                                    '--no-ddp-equivalence', '--out', 'r.md'])
    assert args.steps == ['video_memory_1024', 'bf16_step']
    assert not args.ddp_equivalence and args.out == 'r.md'


@pytest.mark.parametrize('argv, message', [
    (['--steps', 'bf16_step', 'fp8_step'],
     "unknown step(s) ['fp8_step']; choose from ['bf16_step', 'bf16_inference', 'ddp_2gpu'"),
    (['--out', 'record.txt'], "--out 'record.txt': the record is written as .json or .md"),
    (['--video-lengths', '64'], 'give at least two different positive lengths'),
    (['--iters', '0'], '--iters must be >= 1, got 0'),
])
def test_bad_arguments_exit_2_with_the_reason(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        gpu_check.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_steps_and_options(capsys):
    with pytest.raises(SystemExit) as exc:
        gpu_check.parse_args(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ('bf16_step', 'ddp_2gpu', 'zero2_resume', 'video_memory_1024', '--device',
                 '--out', '--real-size', '--steps'):
        assert word in out


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device is visible')
def test_device_cuda_without_a_gpu_is_an_error_naming_the_fix(capsys):
    parser, _ = gpu_check.parse_args([])
    assert gpu_check.resolve_device(parser, 'auto') == 'cpu'
    with pytest.raises(SystemExit):
        gpu_check.resolve_device(parser, 'cuda')
    err = capsys.readouterr().err
    assert 'no CUDA device is visible' in err and '--device cpu' in err


# ----------------------------------------------------------------------------- verdicts
def _step(loss, grads, changed, trainable=3):
    return dict(loss=loss, grads=grads, changed=changed, num_trainable=trainable,
                nonzero_grads=[n for n, g in grads.items() if bool(g.abs().sum() > 0)])


def test_compare_steps_passes_close_steps_and_reports_figures():
    g = {'a': torch.tensor([1.0, 2.0]), 'b': torch.tensor([0.5]), 'c': torch.zeros(2)}
    g16 = {'a': torch.tensor([1.01, 1.98]), 'b': torch.tensor([0.49]), 'c': torch.zeros(2)}
    figures = gpu_check.compare_steps(_step(2.0, g, ['a', 'b']), _step(2.02, g16, ['a', 'b']),
                                      rtol=0.05, min_cosine=0.9)
    assert figures['loss_rel_diff'] == pytest.approx(0.01)
    assert figures['grad_cosine'] > 0.999
    assert figures['params_changed'] == 2 and figures['params_trainable'] == 3


@pytest.mark.parametrize('bf16, message', [
    (_step(2.5, {'a': torch.ones(2)}, ['a']), 'relative difference 25.00% > 5.00%'),
    (_step(float('nan'), {'a': torch.ones(2)}, ['a']), 'bf16 loss is nan'),
    (_step(2.0, {}, []), 'the bf16 optimizer step was skipped'),
    (_step(2.0, {'a': torch.tensor([1.0, float('inf')])}, ['a']),
     "bf16: non-finite gradients in 1 parameters, e.g. ['a']"),
    (_step(2.0, {'a': torch.ones(2)}, []),
     "bf16: 1 parameters with a non-zero gradient did not change, e.g. ['a']"),
    (_step(2.0, {'a': -torch.ones(2)}, ['a']), 'gradient cosine similarity bf16 vs fp32'),
])
def test_compare_steps_fails_with_what_was_measured(bf16, message):
    fp32 = _step(2.0, {'a': torch.ones(2)}, ['a'])
    with pytest.raises(CheckFailed) as exc:
        gpu_check.compare_steps(fp32, bf16, rtol=0.05, min_cosine=0.9)
    assert message in str(exc.value)


def _predictions(masks, answers):
    return dict(masks=[torch.as_tensor(m, dtype=torch.bool) for m in masks],
                answers=answers)


def test_compare_predictions_counts_pixels_of_sentences_answered_alike():
    fp32 = _predictions([[[[1, 1], [0, 0]], [[1, 0], [0, 0]]]], [['[SEG]', 'a [SEG]']])
    bf16 = _predictions([[[[1, 1], [0, 1]], [[0, 1], [1, 1]]]], [['[SEG]', 'b [SEG]']])
    fig = gpu_check.compare_predictions(fp32, bf16, min_agreement=0.7)
    # Sentence 1 was answered differently: only sentence 0 (3 of 4 pixels) is compared.
    assert fig['sentences'] == 2 and fig['sentences_compared'] == 1
    assert fig['pixel_agreement'] == pytest.approx(0.75)
    with pytest.raises(CheckFailed, match=r'bf16 masks agree with fp32 on 75\.00% of the '
                                          r'pixels of 1 sentences \(< 80%\)'):
        gpu_check.compare_predictions(fp32, bf16, min_agreement=0.8)
    with pytest.raises(CheckFailed, match=r'bf16 masks torch.bool \(1, 2, 2\) vs fp32 '
                                          r'torch.bool \(2, 2, 2\)'):
        gpu_check.compare_predictions(fp32, _predictions([[[[1, 1], [0, 0]]]], [['x']]), 0.5)


@pytest.mark.slow
def test_bf16_inference_on_the_cpu_falls_back_to_fp32_and_skips(tmp_path):
    """The step's CPU path: predict_autocast='bfloat16' is read, falls back to fp32 (same
    masks), and the step reports SKIP with the reason (~15 s)."""
    _, args = gpu_check.parse_args(['--device', 'cpu', '--steps', 'bf16_inference'])
    ctx = gpu_check.Context(args, 'cpu', str(tmp_path))
    result = gpu_check.run_check('bf16_inference', gpu_check.check_bf16_inference, ctx)
    assert result.status == 'SKIP', result.summary
    assert result.summary == ("bf16 inference runs on CUDA only; on the CPU predict_autocast="
                              "'bfloat16' fell back to fp32 (same masks as fp32)")


def test_judge_flat_uses_relative_tolerance_plus_slack():
    rows = [dict(frames=128, working_mib=109.0), dict(frames=16, working_mib=100.0),
            dict(frames=64, working_mib=104.0)]
    verdict = gpu_check.judge_flat(rows, tolerance=0.10, slack_mib=0.0)
    assert verdict['flat'] and verdict['ratio'] == pytest.approx(1.09)
    assert verdict['limit_mib'] == pytest.approx(110.0)
    rows[0]['working_mib'] = 112.0  # grows with the video: 12 % > 10 %
    assert not gpu_check.judge_flat(rows, 0.10, 0.0)['flat']
    assert gpu_check.judge_flat(rows, 0.10, 4.0)['flat']  # within 110 + 4 MiB


def test_tensor_digest_is_bitwise_and_dtype_agnostic():
    x = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    assert gpu_check.tensor_digest(x) == gpu_check.tensor_digest(x.clone().t().t())
    y = x.clone()
    y[1, 2] = 5.03125  # the next bf16 value after 5
    assert gpu_check.tensor_digest(y) != gpu_check.tensor_digest(x)
    assert gpu_check.tensor_digest(x) != gpu_check.tensor_digest(x.float())


def test_rank_report_hook_records_start_end_and_losses(tmp_path):
    inner = torch.nn.Linear(2, 1)
    ddp_like = torch.nn.Module()  # DDP-like: the model is `.module`
    ddp_like.module = inner
    assert gpu_check.unwrap_model(ddp_like) is inner
    runner = types.SimpleNamespace(iter=3, rank=1, world_size=2, model=ddp_like)
    hook = gpu_check.RankReportHook(str(tmp_path), tag='resume')
    hook.before_train(runner)
    with torch.no_grad():
        inner.weight.add_(1.0)
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.5)})
    runner.iter = 4
    hook.after_train(runner)
    report = json.loads((tmp_path / 'resume_rank1.json').read_text())
    assert report['start_iter'] == 3 and report['end_iter'] == 4
    assert report['losses'] == {'4': 1.5}
    assert report['world_size'] == 2 and report['device'] == 'cpu'
    assert report['start_digests']['bias'] == report['end_digests']['bias']
    assert report['start_digests']['weight'] != report['end_digests']['weight']
    with pytest.raises(CheckFailed, match='rank 0 of the .resume. run wrote no report'):
        gpu_check.read_rank_reports(str(tmp_path), 'resume', 2)


def test_synthetic_video_streams_a_ping_pong_clip():
    frames = list(gpu_check.synthetic_video_frames(40, 64, clip=16))
    assert len(frames) == 40 and frames[0].shape == (64, 64, 3)
    assert (frames[16] == frames[14]).all() and (frames[30] == frames[0]).all()
    assert not (frames[1] == frames[0]).all()


# ----------------------------------------------------------------------------- main / record
def _fake_checks(monkeypatch):
    def passes(ctx):
        return StepResult('bf16_step', 'PASS', 'loss fp32 1.0 bf16 1.0', {'loss_bf16': 1.0})

    def skips(ctx):
        raise CheckSkipped('needs 2 CUDA devices, found 0')

    def skips_on_cpu(ctx):
        raise CheckSkipped('bf16 inference runs on CUDA only')

    def fails(ctx):
        raise CheckFailed('rank 1 resumed at iteration 0, expected 2 | see log',
                          {'iters': 2})

    def crashes(ctx):
        raise ValueError('boom')

    monkeypatch.setitem(gpu_check.CHECKS, 'bf16_step', passes)
    monkeypatch.setitem(gpu_check.CHECKS, 'bf16_inference', skips_on_cpu)
    monkeypatch.setitem(gpu_check.CHECKS, 'ddp_2gpu', skips)
    monkeypatch.setitem(gpu_check.CHECKS, 'zero2_resume', fails)
    monkeypatch.setitem(gpu_check.CHECKS, 'video_memory_1024', crashes)


def test_main_prints_one_line_per_step_and_writes_the_json_record(monkeypatch, tmp_path,
                                                                  capsys):
    _fake_checks(monkeypatch)
    out = tmp_path / 'rec' / 'gpu_check.json'
    code = gpu_check.main(['--device', 'cpu', '--out', str(out), '--work-dir',
                           str(tmp_path / 'w')])
    assert code == 1  # one FAIL (and one crash reported as FAIL)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('[gpu_check]')]
    assert '[gpu_check] bf16_step: PASS loss fp32 1.0 bf16 1.0' in lines
    assert '[gpu_check] bf16_inference: SKIP bf16 inference runs on CUDA only' in lines
    assert '[gpu_check] ddp_2gpu: SKIP needs 2 CUDA devices, found 0' in lines
    assert '[gpu_check] zero2_resume: FAIL rank 1 resumed at iteration 0, expected 2 | ' \
        'see log' in lines
    assert '[gpu_check] video_memory_1024: FAIL ValueError: boom' in lines
    assert any(ln.startswith('[gpu_check] summary: 1 PASS, 2 FAIL, 2 SKIP on cpu')
               for ln in lines)

    record = json.loads(out.read_text())
    assert record['device'] == 'cpu'
    assert record['command'].endswith(f'--device cpu --out {out} --work-dir {tmp_path / "w"}')
    assert [(s['name'], s['status']) for s in record['steps']] == [
        ('bf16_step', 'PASS'), ('bf16_inference', 'SKIP'), ('ddp_2gpu', 'SKIP'),
        ('zero2_resume', 'FAIL'), ('video_memory_1024', 'FAIL')]
    assert record['steps'][3]['figures'] == {'iters': 2}
    assert record['summary'] == {'counts': {'PASS': 1, 'FAIL': 2, 'SKIP': 2}, 'exit_code': 1}
    machine = record['machine']
    assert machine['torch'] == torch.__version__
    assert machine['gpu_count'] == (torch.cuda.device_count() if torch.cuda.is_available()
                                    else 0)
    assert len(machine['gpus']) == machine['gpu_count']
    assert machine['cpu_count'] == os.cpu_count()
    import mmengine
    assert machine['packages']['mmengine'] == mmengine.__version__
    assert set(machine) >= {'driver', 'torch_cuda', 'cudnn', 'python', 'git_commit'}


def test_markdown_record_and_exit_status_without_failures(monkeypatch, tmp_path, capsys):
    _fake_checks(monkeypatch)
    out = tmp_path / 'gpu_check.md'
    code = gpu_check.main(['--device', 'cpu', '--steps', 'bf16_step', 'ddp_2gpu', '--out',
                           str(out), '--work-dir', str(tmp_path / 'w')])
    assert code == 0  # PASS and SKIP only
    text = out.read_text()
    assert '| bf16_step | PASS | loss fp32 1.0 bf16 1.0 |' in text
    assert '| ddp_2gpu | SKIP | needs 2 CUDA devices, found 0 |' in text
    assert '1 PASS, 0 FAIL, 1 SKIP' in text
    assert f'- torch {torch.__version__};' in text
    # A failure's '|' is escaped so the table keeps its columns.
    capsys.readouterr()
    gpu_check.main(['--device', 'cpu', '--steps', 'zero2_resume', '--out', str(out),
                    '--work-dir', str(tmp_path / 'w')])
    assert 'expected 2 \\| see log |' in out.read_text()


# ----------------------------------------------------------------------------- CPU runs
def _run_cpu(tmp_path, *steps_and_options):
    out = tmp_path / 'gpu_check.json'
    # One thread: the tiny models are small-op bound; on a loaded 2-core machine a second
    # OpenMP thread made the video step 20x slower (barrier waits), not faster.
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        [sys.executable, TOOL, '--device', 'cpu', '--steps', *steps_and_options,
         '--out', str(out), '--work-dir', str(tmp_path / 'work')],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('[gpu_check] ')]
    record = json.loads(out.read_text())
    assert record['device'] == 'cpu' and record['machine']['gpu_count'] == 0
    return lines, {s['name']: s for s in record['steps']}


def _result_line(lines, step):
    found = [ln for ln in lines if ln.startswith(f'[gpu_check] {step}: ')]
    assert len(found) == 1, lines
    return found[0]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cpu_mode_bf16_step_real_size_path_and_video_memory(tmp_path):
    """bf16 autocast step against fp32, the --real-size path (on the tiny config: the 1B
    one needs ~20 GiB on the CPU) and the video memory check (tiny SAM-2, RSS), as a user
    runs them (~40 s on 2 cores)."""
    lines, steps = _run_cpu(tmp_path, 'bf16_step', 'video_memory_1024', '--real-size',
                            '--real-size-config', 'configs/desa2va/desa2va_tiny_decouple.py')
    assert _result_line(lines, 'bf16_step').startswith('[gpu_check] bf16_step: PASS loss fp32 ')
    assert '(CPU autocast)' in _result_line(lines, 'bf16_step')
    assert _result_line(lines, 'bf16_step_real_size').startswith(
        '[gpu_check] bf16_step_real_size: PASS configs/desa2va/desa2va_tiny_decouple.py (random '
        'weights, fp32): forward+backward ')
    assert _result_line(lines, 'video_memory_1024').startswith(
        '[gpu_check] video_memory_1024: PASS SAM-2 tiny at 128 px')
    assert lines[-2].startswith('[gpu_check] summary: 3 PASS, 0 FAIL, 0 SKIP on cpu')

    assert [s['status'] for s in steps.values()] == ['PASS'] * 3
    fig = steps['bf16_step']['figures']
    assert fig['loss_rel_diff'] <= fig['loss_rtol'] == 0.05
    assert fig['grad_cosine'] >= 0.9 and fig['params_changed'] > 0
    real = steps['bf16_step_real_size']['figures']
    assert real['nonfinite_grads'] == 0 and real['params_with_grad'] > 0
    video = steps['video_memory_1024']['figures']
    assert [r['frames'] for r in video['rows']] == [16, 64, 128]
    assert video['measure'] == 'RSS sampled per frame' and video['flat']
    # SAM-2's memory bank stays bounded: key frames + the window, same at 64 and 128.
    banks = [r['bank'] for r in video['rows']]
    assert banks[1] == banks[2] < 64


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cpu_mode_ddp_and_zero2_resume(tmp_path):
    """2-process gloo DDP of the tiny model and DeepSpeed ZeRO-2 save / --resume through
    tools/dist_train.sh (~2.5 min on 2 cores; the toy 2x2 vs 1x4 comparison is left to
    test_distributed_equivalence.py)."""
    lines, steps = _run_cpu(tmp_path, 'ddp_2gpu', 'zero2_resume', '--no-ddp-equivalence')
    ddp = _result_line(lines, 'ddp_2gpu')
    assert ddp.startswith('[gpu_check] ddp_2gpu: PASS 2 ranks (gloo; cpu, cpu) ran 2 '
                          'iterations each')
    assert 'identical parameters on both ranks' in ddp and 'iter_2.pth loads strict' in ddp
    zero2 = _result_line(lines, 'zero2_resume')
    assert zero2.startswith('[gpu_check] zero2_resume: PASS 2 process(es) on cpu (fp32): '
                            'saved at iter 2, --resume restored all ')
    fig = steps['ddp_2gpu']['figures']
    assert fig['backend'] == 'gloo' and len(fig['rank0_losses']) == 2
    # Different data per rank: the ranks' losses differ, their parameters do not.
    assert fig['rank0_losses'] != fig['rank1_losses']
    fig = steps['zero2_resume']['figures']
    assert fig['nproc'] == 2 and len(fig['losses_after']) == 2
    assert all(v == v and abs(v) < 1e6 for v in fig['losses_after'])
