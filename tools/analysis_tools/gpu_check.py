"""Check on GPUs what a CPU-only machine cannot: bf16, NCCL DDP, DeepSpeed resume, video memory.

Each step prints one result line ``[gpu_check] <step>: PASS|FAIL|SKIP <figures>`` and the
run ends with a summary line; the exit status is 1 when any step failed. Progress and the
tails of failed runs go to stderr. docs/gpu_check.md describes every step and its criteria.

Steps (``--steps``, default all):

* ``bf16_step``: one training step of the tiny DeSa2VA (``configs/desa2va/desa2va_tiny_decouple.py``)
  on synthetic samples under bf16 autocast (``NonFiniteGuardAmpOptimWrapper``), against an
  fp32 step from the same weights and batch: loss and gradients finite, parameters
  changed, loss within ``--bf16-rtol`` of fp32. ``--real-size`` adds a forward / backward
  of ``configs/desa2va/desa2va_1b_decouple.py`` with random weights (step time, peak memory).
* ``bf16_inference``: ``model.test_step`` of the tiny DeSa2VA on synthetic test images with
  ``model.predict_autocast='bfloat16'`` (what the real-size model bases set) against the
  same weights in fp32: the seg head decodes under bf16 autocast (bf16 logits), the masks
  are bool at the original size, and the first mask of every sentence answered alike
  agrees with fp32 on at least ``--bf16-mask-agreement`` of its pixels. On the CPU the
  setting falls back to fp32 (identical masks) and the step is SKIP.
* ``ddp_2gpu``: ``tools/dist_train.sh`` with 2 processes (NCCL on GPUs) on the tiny model;
  both ranks report every iteration and identical parameters, the checkpoint loads into a
  fresh model. Then 2 processes x batch 2 against 1 process x batch 4 on the 5-parameter
  toy config of the tool tests (tests/data/configs/toy_ref.py): same parameters after
  every step.
* ``zero2_resume``: DeepSpeed ZeRO-2 (``configs/_base_/strategies/deepspeed_zero2.py``) on
  the tiny model trains N iterations and saves; a second run with ``--resume`` starts
  from exactly the saved parameters and trains N more with a finite loss.
* ``video_memory_1024``: ``model.segment_video`` with SAM-2 hiera-L at 1024 px (random
  weights) over synthetic videos of 16, 64 and 128 frames; peak CUDA memory above the
  model's must not grow with the video length.

``--device cpu`` runs the same logic on the CPU: autocast bf16 on the CPU without
MMEngine's ``AmpOptimWrapper`` (which refuses to build without an accelerator), gloo for
the distributed steps, the tiny SAM-2 at 128 px and resident memory (RSS) for the video
step.

    python tools/analysis_tools/gpu_check.py --out gpu_check.json
    python tools/analysis_tools/gpu_check.py --steps bf16_step --real-size
    python tools/analysis_tools/gpu_check.py --device cpu --steps bf16_step video_memory_1024
"""
import argparse
import datetime
import gc
import hashlib
import json
import math
import os
import os.path as osp
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.hooks import Hook  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

STEPS = ('bf16_step', 'bf16_inference', 'ddp_2gpu', 'zero2_resume', 'video_memory_1024')
STATUSES = ('PASS', 'FAIL', 'SKIP')
PREFIX = '[gpu_check]'

TINY_CONFIG = 'configs/desa2va/desa2va_tiny_decouple.py'
REAL_CONFIG = 'configs/desa2va/desa2va_1b_decouple.py'
VIDEO_CONFIG = 'configs/_base_/models/desa2va_tiny_video.py'
ZERO2_STRATEGY = 'configs/_base_/strategies/deepspeed_zero2.py'
TOY_CONFIG = 'tests/data/configs/toy_ref.py'
#: The hook the distributed runs load by import path (no registration needed: MMEngine
#: imports a dotted ``type`` it does not find in a registry).
REPORT_HOOK = 'tools.analysis_tools.gpu_check.RankReportHook'


# --------------------------------------------------------------------------- results
@dataclass
class StepResult:
    """The outcome of one check.

    Attributes:
        name: Step name (``bf16_step``...; ``bf16_step_real_size`` for ``--real-size``).
        status: ``PASS``, ``FAIL`` or ``SKIP``.
        summary: The figures (or the reason), one line.
        figures: The numbers behind ``summary`` (for the ``--out`` record).
        seconds: Wall time of the step.
    """
    name: str
    status: str
    summary: str
    figures: dict = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        return f'{PREFIX} {self.name}: {self.status} {self.summary}'


class CheckFailed(Exception):
    """A check did not hold; the message says what was measured and what was expected."""

    def __init__(self, message: str, figures: Optional[dict] = None):
        super().__init__(message)
        self.figures = figures or {}


class CheckSkipped(Exception):
    """The step cannot run here; the message says why and what would let it run."""


def progress(message: str) -> None:
    print(f'{PREFIX} ... {message}', file=sys.stderr, flush=True)


def summarize(results: Sequence[StepResult]) -> dict:
    """Counts per status and the exit status (1 when any step failed)."""
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    return dict(counts=counts, exit_code=1 if counts['FAIL'] else 0)


# --------------------------------------------------------------------------- machine
def _version(dist_name: str) -> Optional[str]:
    from importlib import metadata
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Versions and accelerators of this machine (for the record)."""
    import torch
    info = dict(
        platform=platform.platform(),
        python=platform.python_version(),
        cpu_count=os.cpu_count(),
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        gpu_count=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        gpus=[],
        driver=None,
        packages={name: _version(name) for name in (
            'mmengine', 'mmcv', 'mmdet', 'deepspeed', 'transformers', 'peft', 'sam2')},
        git_commit=None)
    for i in range(info['gpu_count']):
        props = torch.cuda.get_device_properties(i)
        info['gpus'].append(dict(name=props.name,
                                 memory_gib=round(props.total_memory / 2**30, 1),
                                 capability=f'{props.major}.{props.minor}'))
    if info['gpu_count'] and shutil.which('nvidia-smi'):
        proc = subprocess.run(['nvidia-smi', '--query-gpu=driver_version',
                               '--format=csv,noheader'], capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.strip():
            info['driver'] = proc.stdout.strip().splitlines()[0]
    proc = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO_ROOT, capture_output=True,
                          text=True)
    if proc.returncode == 0:
        info['git_commit'] = proc.stdout.strip()
    return info


# --------------------------------------------------------------------------- record
def write_record(path: str, results: Sequence[StepResult], machine: dict, device: str,
                 argv: Sequence[str]) -> None:
    """Write the run as JSON (``.json``) or a markdown report (``.md``)."""
    record = dict(
        tool='tools/analysis_tools/gpu_check.py',
        command='python tools/analysis_tools/gpu_check.py ' + ' '.join(argv),
        date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        device=device,
        machine=machine,
        steps=[asdict(r) for r in results],
        summary=summarize(results))
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if path.endswith('.json'):
        with open(path, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')
        return
    gpus = ', '.join(f"{g['name']} ({g['memory_gib']} GiB)" for g in machine['gpus']) \
        or 'none'
    pkgs = ', '.join(f'{k} {v}' for k, v in machine['packages'].items() if v)
    counts = record['summary']['counts']
    lines = [
        '# gpu_check record', '',
        f"- command: `{record['command']}`",
        f"- date: {record['date']}",
        f'- device: {device}',
        f"- GPUs: {machine['gpu_count']} x {gpus}; driver {machine['driver']}, "
        f"CUDA (torch) {machine['torch_cuda']}, cuDNN {machine['cudnn']}",
        f"- CPU cores: {machine['cpu_count']}; {machine['platform']}; "
        f"Python {machine['python']}",
        f"- torch {machine['torch']}; {pkgs}",
        f"- commit: {machine['git_commit']}", '',
        '| step | status | figures | seconds |', '|---|---|---|---|']
    for r in results:
        summary = r.summary.replace('|', '\\|')
        lines.append(f'| {r.name} | {r.status} | {summary} | {r.seconds:.1f} |')
    lines += ['', f"{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP", '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


# --------------------------------------------------------------------------- helpers
def tensor_digest(tensor) -> str:
    """SHA-256 of a tensor's bytes (any dtype): equal digests mean bitwise-equal values."""
    import torch
    raw = tensor.detach().reshape(-1).contiguous().cpu().view(torch.uint8)
    return hashlib.sha256(raw.numpy().tobytes()).hexdigest()[:16]


def unwrap_model(model):
    """The model inside DDP / ``MMDeepSpeedEngineWrapper`` -> ``DeepSpeedEngine``."""
    from torch import nn
    for _ in range(4):
        if type(model).__name__ == 'MMDeepSpeedEngineWrapper':
            model = model.model
            continue
        inner = getattr(model, 'module', None)
        if isinstance(inner, nn.Module):
            model = inner
            continue
        break
    return model


def parameter_digests(model) -> Dict[str, str]:
    """``{name: digest}`` of every parameter of the unwrapped model."""
    return {name: tensor_digest(p) for name, p in unwrap_model(model).named_parameters()}


class RankReportHook(Hook):
    """Writes, per rank, what the run did: iterations, losses, device, parameter digests.

    Loaded by the distributed runs of this tool through its import path. ``before_train``
    runs after MMEngine has loaded or resumed a checkpoint, so its digests are the
    parameters training starts from; ``after_train`` records the final ones.

    Args:
        out_dir: Folder of the ``<tag>_rank<r>.json`` reports.
        tag: Name of the run (``train``, ``resume``).
    """

    priority = 'LOWEST'

    def __init__(self, out_dir: str, tag: str = 'train'):
        self.out_dir = out_dir
        self.tag = tag
        self.start_iter = None
        self.start_digests: Dict[str, str] = {}
        self.losses: Dict[int, float] = {}

    def before_train(self, runner) -> None:
        self.start_iter = runner.iter
        self.start_digests = parameter_digests(runner.model)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is not None:
            self.losses[runner.iter + 1] = float(loss)

    def after_train(self, runner) -> None:
        import torch.distributed as dist
        model = unwrap_model(runner.model)
        param = next(model.parameters())
        report = dict(
            rank=runner.rank, world_size=runner.world_size,
            backend=dist.get_backend() if dist.is_available() and dist.is_initialized()
            else None,
            device=str(param.device), param_dtype=str(param.dtype),
            start_iter=self.start_iter, end_iter=runner.iter,
            losses={str(k): v for k, v in sorted(self.losses.items())},
            start_digests=self.start_digests, end_digests=parameter_digests(runner.model))
        os.makedirs(self.out_dir, exist_ok=True)
        path = osp.join(self.out_dir, f'{self.tag}_rank{runner.rank}.json')
        with open(path, 'w') as f:
            json.dump(report, f)


def read_rank_reports(out_dir: str, tag: str, world_size: int) -> List[dict]:
    reports = []
    for rank in range(world_size):
        path = osp.join(out_dir, f'{tag}_rank{rank}.json')
        if not osp.isfile(path):
            raise CheckFailed(f'rank {rank} of the {tag!r} run wrote no report ({path}): '
                              'it did not finish training')
        with open(path) as f:
            reports.append(json.load(f))
    return reports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def sync(device: str) -> None:
    import torch
    if device == 'cuda':
        torch.cuda.synchronize()


def rss_bytes() -> int:
    """Current resident memory of this process (Linux ``/proc/self/statm``)."""
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE')


def release_host_memory() -> None:
    """Return freed heap to the OS, so a later RSS reading starts from what is in use."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS readings include cached heap
        pass


def data_cfg_options(data_root: str) -> List[str]:
    """``--cfg-options`` pointing the tiny config's loaders at ``data_root``, in-process."""
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={data_root}/', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


class Context:
    """What the steps share: arguments, device, work folder, the synthetic data."""

    def __init__(self, args, device: str, work_dir: str):
        self.args = args
        self.device = device
        self.work_dir = work_dir
        self._data_root = None

    @property
    def data_root(self) -> str:
        """A 32-image synthetic RefCOCO set (written on first use, ~1 s)."""
        if self._data_root is None:
            from desa2va_mm.synthetic import make_synthetic_refcoco
            root = osp.join(self.work_dir, 'synthetic_refcoco')
            progress(f'writing 32 synthetic RefCOCO images to {root}')
            make_synthetic_refcoco(root, num_images=32, seed=0)
            self._data_root = root
        return self._data_root

    def step_dir(self, name: str) -> str:
        """An empty folder for one step (reports of an earlier run must not count)."""
        path = osp.join(self.work_dir, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def subprocess_env(self, **extra) -> dict:
        env = dict(os.environ)
        # dist_train.sh runs `python`: the one running this tool.
        env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
        env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
        for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
            env.pop(key, None)
        if self.device == 'cpu':
            env['CUDA_VISIBLE_DEVICES'] = ''  # children take the CPU (gloo) path
            # Two processes share the cores; more threads than cores stall every op.
            env['OMP_NUM_THREADS'] = str(max(1, (os.cpu_count() or 2) // 2))
        env.update(extra)
        return env

    def run(self, cmd: List[str], log_name: str, **env) -> str:
        """Run a command from the repository root; its output goes to a log file."""
        log_path = osp.join(self.work_dir, f'{log_name}.log')
        progress(f"{' '.join(cmd[:4])} ... (log: {log_path})")
        start = time.perf_counter()
        with open(log_path, 'w') as log:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=self.subprocess_env(**env),
                                  stdout=log, stderr=subprocess.STDOUT,
                                  timeout=self.args.timeout)
        with open(log_path) as f:
            output = f.read()
        if proc.returncode != 0:
            print(output[-4000:], file=sys.stderr)
            raise CheckFailed(f'{log_name}: exit status {proc.returncode} after '
                              f'{time.perf_counter() - start:.0f} s (log: {log_path})')
        return output

    def dist_train(self, config: str, nproc: int, work_dir: str, log_name: str,
                   *options: str, resume: bool = False) -> str:
        cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config, str(nproc),
               '--work-dir', work_dir]
        if resume:
            cmd.append('--resume')
        if options:
            cmd += ['--cfg-options', *options]
        return self.run(cmd, log_name, PORT=str(free_port()))


def write_config(path: str, bases: Sequence[str], overrides: str = '',
                 extra_hooks: Sequence[dict] = ()) -> str:
    """A config file inheriting ``bases``, with ``extra_hooks`` appended to custom_hooks.

    The hooks are appended through MMEngine (load, extend, dump) so the base configs'
    own hooks stay whatever they are.
    """
    from mmengine.config import Config
    os.makedirs(osp.dirname(path), exist_ok=True)
    stub = path[:-3] + '_stub.py'
    base_list = ', '.join(repr(osp.join(REPO_ROOT, b)) for b in bases)
    with open(stub, 'w') as f:
        f.write(f'_base_ = [{base_list}]\n{overrides}\n')
    cfg = Config.fromfile(stub)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + list(extra_hooks)
    cfg.dump(path)
    return path


def run_train_options(ctx: Context, iters: int, batch_size: int) -> List[str]:
    """``--cfg-options`` shrinking the tiny phase-2 config to ``iters`` short iterations."""
    root = ctx.data_root
    return data_cfg_options(root) + [
        f'train_dataloader.batch_size={batch_size}',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1000}',
        f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
        'load_from=None']


# --------------------------------------------------------------------------- bf16_step
def tiny_config(ctx: Context):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, TINY_CONFIG))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = ctx.data_root + '/'
    cfg.load_from = None
    return cfg


def build_tiny_batch(cfg, num: int):
    """``num`` training samples through the config's pipeline, collated as the runner does."""
    from mmengine.dataset import pseudo_collate
    from desa2va_mm.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    return pseudo_collate([dataset[i] for i in range(num)])


def build_optim_wrapper(model, cfg_optimizer: dict, device: str, bf16: bool,
                        clip_grad: Optional[dict]):
    """The optimizer wrapper of one check step.

    CUDA + bf16: ``NonFiniteGuardAmpOptimWrapper(dtype='bfloat16')``, as the real-size
    schedule (configs/_base_/schedules/sa2va_1epoch.py). CPU + bf16: MMEngine's
    ``AmpOptimWrapper`` refuses to build without an accelerator, so
    ``NonFiniteGuardOptimWrapper`` gets the same autocast around the forward (its
    ``optim_context``); no loss scaler (bf16 needs none). fp32: ``NonFiniteGuardOptimWrapper``.
    """
    from contextlib import contextmanager

    import torch
    from mmengine.optim import build_optim_wrapper as mm_build
    base = dict(optimizer=dict(cfg_optimizer), clip_grad=clip_grad,
                max_consecutive_bad_steps=5, check_grads=True)
    if bf16 and device == 'cuda':
        wrapper = mm_build(model, dict(type='NonFiniteGuardAmpOptimWrapper', dtype='bfloat16',
                                       **base))
        return wrapper
    wrapper = mm_build(model, dict(type='NonFiniteGuardOptimWrapper', **base))
    if bf16:
        original = wrapper.optim_context

        @contextmanager
        def autocast_context(module):
            with original(module), torch.autocast(device_type='cpu', dtype=torch.bfloat16):
                yield

        wrapper.optim_context = autocast_context
    return wrapper


def train_step(model, optim_wrapper, batch, device: str, seed: int = 0) -> dict:
    """One ``model.train_step`` (the runner's path); returns loss, gradients, changes, time.

    The gradients are read by an optimizer step pre-hook: exactly what the optimizer
    used, after loss-scale unscaling and clipping. No hook call means the step was skipped
    (non-finite guard or loss scaler).
    """
    import copy

    import torch
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads: Dict[str, torch.Tensor] = {}

    def snapshot(optimizer, args, kwargs):
        for n, p in named:
            if p.grad is not None:
                grads[n] = p.grad.detach().float().clone()

    before = {n: p.detach().clone() for n, p in named}
    handle = optim_wrapper.optimizer.register_step_pre_hook(snapshot)
    torch.manual_seed(seed)
    if device == 'cuda':
        torch.cuda.manual_seed_all(seed)
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    log_vars = model.train_step(copy.deepcopy(batch), optim_wrapper)
    sync(device)
    seconds = time.perf_counter() - start
    handle.remove()
    changed = [n for n, p in named if not torch.equal(p.detach(), before[n])]
    nonzero = [n for n, g in grads.items() if bool(g.abs().sum() > 0)]
    log_vars = {k: float(v.detach() if isinstance(v, torch.Tensor) else v)
                for k, v in log_vars.items()}
    return dict(loss=log_vars['loss'], log_vars=log_vars,
                grads=grads, changed=changed, nonzero_grads=nonzero,
                num_trainable=len(named), seconds=seconds,
                peak_bytes=torch.cuda.max_memory_allocated() if device == 'cuda' else None)


def compare_steps(fp32: dict, bf16: dict, rtol: float, min_cosine: float) -> dict:
    """Judge a bf16 step against the fp32 step of the same weights and batch.

    Raises:
        CheckFailed: a non-finite loss or gradient, a skipped step, parameters with a
            non-zero gradient left unchanged, a loss outside ``rtol`` of fp32, or a
            gradient cosine similarity below ``min_cosine``.
    """
    import torch
    figures = dict(loss_fp32=fp32['loss'], loss_bf16=bf16['loss'])
    for name, step in (('fp32', fp32), ('bf16', bf16)):
        if not math.isfinite(step['loss']):
            raise CheckFailed(f'{name} loss is {step["loss"]}', figures)
        if not step['grads']:
            raise CheckFailed(f'the {name} optimizer step was skipped (non-finite loss or '
                              'gradients; see the NonFiniteGuard warning above)', figures)
        bad = [n for n, g in step['grads'].items() if not bool(torch.isfinite(g).all())]
        if bad:
            raise CheckFailed(f'{name}: non-finite gradients in {len(bad)} parameters, e.g. '
                              f'{bad[:3]}', figures)
        unchanged = sorted(set(step['nonzero_grads']) - set(step['changed']))
        if unchanged:
            raise CheckFailed(f'{name}: {len(unchanged)} parameters with a non-zero gradient '
                              f'did not change, e.g. {unchanged[:3]}', figures)
    rel = abs(bf16['loss'] - fp32['loss']) / max(abs(fp32['loss']), 1e-12)
    common = sorted(set(fp32['grads']) & set(bf16['grads']))
    a = torch.cat([fp32['grads'][n].flatten() for n in common])
    b = torch.cat([bf16['grads'][n].flatten() for n in common])
    cosine = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    figures.update(loss_rel_diff=rel, loss_rtol=rtol, grad_cosine=cosine,
                   min_cosine=min_cosine, params_changed=len(bf16['changed']),
                   params_trainable=bf16['num_trainable'])
    if rel > rtol:
        raise CheckFailed(f'bf16 loss {bf16["loss"]:.5f} vs fp32 {fp32["loss"]:.5f}: '
                          f'relative difference {rel:.2%} > {rtol:.2%}', figures)
    if cosine < min_cosine:
        raise CheckFailed(f'gradient cosine similarity bf16 vs fp32 {cosine:.4f} < '
                          f'{min_cosine}', figures)
    return figures


def check_bf16_step(ctx: Context) -> StepResult:
    import copy

    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner.utils import set_random_seed

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    args, device = ctx.args, ctx.device
    init_default_scope('desa2va_mm')
    cfg = tiny_config(ctx)
    set_random_seed(0)  # the pipeline samples targets at random
    batch = build_tiny_batch(cfg, args.batch_size)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    reference = copy.deepcopy(model)
    model.to(device)
    reference.to(device)
    optimizer = dict(cfg.optim_wrapper.optimizer)
    clip = cfg.optim_wrapper.get('clip_grad')
    progress(f'fp32 step of the tiny model on {device}')
    fp32 = train_step(reference, build_optim_wrapper(reference, optimizer, device, False, clip),
                      batch, device)
    if device == 'cuda' and not torch.cuda.is_bf16_supported():
        raise CheckSkipped(f'{torch.cuda.get_device_name()} does not support bf16; fp32 '
                           f'step loss {fp32["loss"]:.4f}')
    progress(f'bf16 autocast step of the tiny model on {device}')
    try:
        bf16 = train_step(model, build_optim_wrapper(model, optimizer, device, True, clip),
                          batch, device)
    except RuntimeError as err:
        if device == 'cpu':  # an op without a CPU bf16 kernel: fp32 only
            raise CheckSkipped(f'bf16 autocast on the CPU failed ({err}); fp32 step loss '
                               f'{fp32["loss"]:.4f}')
        raise
    figures = compare_steps(fp32, bf16, args.bf16_rtol, args.min_grad_cosine)
    figures.update(step_s_fp32=fp32['seconds'], step_s_bf16=bf16['seconds'],
                   batch_size=args.batch_size)
    summary = (f"loss fp32 {fp32['loss']:.4f} bf16 {bf16['loss']:.4f} (rel diff "
               f"{figures['loss_rel_diff']:.2%} <= {args.bf16_rtol:.0%}), grad cosine "
               f"{figures['grad_cosine']:.4f} (>= {args.min_grad_cosine}), grads finite, "
               f"{len(bf16['changed'])}/{bf16['num_trainable']} trainable tensors changed, "
               f"first step {bf16['seconds']:.2f} s bf16 / {fp32['seconds']:.2f} s fp32")
    if device == 'cuda':
        figures.update(peak_mib_fp32=fp32['peak_bytes'] / 2**20,
                       peak_mib_bf16=bf16['peak_bytes'] / 2**20)
        summary += (f", peak {figures['peak_mib_bf16']:.0f} MiB bf16 / "
                    f"{figures['peak_mib_fp32']:.0f} MiB fp32")
    else:
        summary += ' (CPU autocast)'
    return StepResult('bf16_step', 'PASS', summary, figures)


def check_bf16_real_size(ctx: Context) -> StepResult:
    """Forward + backward of the 1B config with random weights, bf16 autocast on CUDA."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    from tools.analysis_tools.smoke_real_size import build_batch
    device = ctx.device
    init_default_scope('desa2va_mm')
    config = ctx.args.real_size_config
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    # Random weights: no pretrained InternVL folder, no SAM-2 checkpoint; the tokenizer
    # is the offline stand-in of the published vocabulary.
    if 'pretrained' in cfg.model.mllm:
        cfg.model.mllm.pretrained = None
    if 'path' in cfg.model.mllm.tokenizer:
        cfg.model.mllm.tokenizer.path = None
    cfg.model.grounding_encoder.checkpoint = None
    progress(f'building {config} with random weights')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    try:
        model.to(device)
    except torch.cuda.OutOfMemoryError as err:
        raise CheckSkipped(f'{config} does not fit on this GPU ({err})')
    data, seq_len = build_batch(model, 'the dog on the left')
    dtype = torch.bfloat16 if device == 'cuda' else None
    times, peak, loss = [], 0, None
    for _ in range(2):  # the first pass includes one-off set-up (kernels, allocator)
        model.zero_grad(set_to_none=True)
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        sync(device)
        start = time.perf_counter()
        try:
            with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
                batch = model.data_preprocessor(data, True)
                losses = model(**batch, mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
        except torch.cuda.OutOfMemoryError as err:
            raise CheckSkipped(f'{config} forward/backward ran out of GPU memory ({err})')
        sync(device)
        times.append(time.perf_counter() - start)
        if device == 'cuda':
            peak = max(peak, torch.cuda.max_memory_allocated())
    loss = float(loss.detach())
    bad = [n for n, p in model.named_parameters()
           if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    with_grad = sum(p.grad is not None for p in model.parameters())
    figures = dict(config=config, loss=loss, step_s=times[-1],
                   first_step_s=times[0], seq_len=seq_len,
                   image_size=model.grounding_encoder.image_size,
                   params_with_grad=with_grad, nonfinite_grads=len(bad),
                   autocast='bf16' if dtype else 'fp32',
                   peak_gib=peak / 2**30 if device == 'cuda' else None)
    summary = (f"{config} (random weights, {figures['autocast']}): forward+backward "
               f"{times[-1]:.2f} s (first {times[0]:.2f} s), loss {loss:.4f}, "
               f"{with_grad} tensors with a gradient, {len(bad)} non-finite")
    if device == 'cuda':
        summary += f', peak {peak / 2**30:.2f} GiB (max_memory_allocated)'
    if not math.isfinite(loss) or bad:
        raise CheckFailed(summary, figures)
    return StepResult('bf16_step_real_size', 'PASS', summary, figures)


# --------------------------------------------------------------------------- bf16_inference
def predict_once(model, data, device: str) -> dict:
    """One ``model.test_step``; the first mask of each sentence, answers, decode dtypes,
    time and peak memory.

    Generation runs as usual, then every answer is replaced by one ``[SEG]`` with a fixed
    state (the tiny model has random weights: its own answers may hold no ``[SEG]``, and
    fp32 and bf16 would then decode different states): the check is on the decode and
    the mask path, which see the same inputs in both runs.
    """
    import copy

    import torch
    from desa2va_mm.evaluation.metrics.referring_seg_metric import sentence_masks
    seen = []
    decode, generate = model.seg_head.decode, model.mllm.generate
    state = torch.randn(model.mllm.hidden_size, generator=torch.Generator().manual_seed(0))

    def spy_generate(input_ids, *args, **kwargs):
        seen.append(('generate', torch.is_autocast_enabled('cuda'), None))
        generate(input_ids, *args, **kwargs)
        n = input_ids.shape[0]
        return ([[model.mllm.seg_token_id]] * n,
                [state.to(input_ids.device)[None] * 5] * n)

    def spy_decode(*args, **kwargs):
        result = decode(*args, **kwargs)
        seen.append(('decode', torch.is_autocast_enabled('cuda'), result.final_logits.dtype))
        return result

    model.seg_head.decode, model.mllm.generate = spy_decode, spy_generate
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    try:
        samples = model.test_step(copy.deepcopy(data))
    finally:  # the instance attributes: back to the class methods
        del model.seg_head.decode
        del model.mllm.generate
    sync(device)
    seconds = time.perf_counter() - start
    return dict(masks=[sentence_masks(s.pred_instances.to_dict()).cpu() for s in samples],
                answers=[list(s.metainfo['pred_answers']) for s in samples],
                decodes=seen, seconds=seconds,
                peak_bytes=torch.cuda.max_memory_allocated() if device == 'cuda' else None)


def compare_predictions(fp32: dict, bf16: dict, min_agreement: float) -> dict:
    """Pixel agreement of the first masks of sentences answered alike in fp32 and bf16.

    Raises:
        CheckFailed: a mask of another shape or dtype, or an agreement below
            ``min_agreement``.
    """
    same = total = compared = 0
    for masks32, masks16, ans32, ans16 in zip(fp32['masks'], bf16['masks'],
                                              fp32['answers'], bf16['answers']):
        if masks16.dtype != masks32.dtype or masks16.shape != masks32.shape:
            raise CheckFailed(f'bf16 masks {masks16.dtype} {tuple(masks16.shape)} vs fp32 '
                              f'{masks32.dtype} {tuple(masks32.shape)}')
        for m32, m16, a32, a16 in zip(masks32, masks16, ans32, ans16):
            if a32 != a16:
                continue  # another answer: another [SEG] state, nothing to compare
            same += int((m32 == m16).sum())
            total += m32.numel()
            compared += 1
    sentences = sum(len(a) for a in fp32['answers'])
    agreement = same / total if total else float('nan')
    figures = dict(sentences=sentences, sentences_compared=compared,
                   pixel_agreement=agreement, min_agreement=min_agreement)
    if compared and agreement < min_agreement:
        raise CheckFailed(f'bf16 masks agree with fp32 on {agreement:.2%} of the pixels of '
                          f'{compared} sentences (< {min_agreement:.0%})', figures)
    return figures


def check_bf16_inference(ctx: Context) -> StepResult:
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS, MODELS
    args, device = ctx.args, ctx.device
    init_default_scope('desa2va_mm')
    cfg = tiny_config(ctx)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    data = pseudo_collate([dataset[i] for i in range(args.batch_size)])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).eval()
    model.predict_autocast = None
    progress(f'fp32 test step of the tiny model on {device}')
    fp32 = predict_once(model, data, device)
    model.predict_autocast = 'bfloat16'
    if device == 'cuda' and model.predict_dtype is not torch.bfloat16:
        raise CheckSkipped(f'{torch.cuda.get_device_name()} does not support bf16: '
                           "predict_autocast='bfloat16' runs in fp32 there")
    progress(f"test step with predict_autocast='bfloat16' on {device}")
    bf16 = predict_once(model, data, device)
    if device != 'cuda':
        if model.predict_dtype is not torch.float32 or any(on for _, on, _ in bf16['decodes']):
            raise CheckFailed("predict_autocast='bfloat16' did not fall back to fp32 on the CPU")
        if not all(torch.equal(a, b) for a, b in zip(fp32['masks'], bf16['masks'])):
            raise CheckFailed('the CPU fallback gave other masks than fp32')
        raise CheckSkipped("bf16 inference runs on CUDA only; on the CPU predict_autocast="
                           "'bfloat16' fell back to fp32 (same masks as fp32)")
    calls = bf16['decodes']
    wrong = [c for c in calls if not c[1] or (c[0] == 'decode' and c[2] != torch.bfloat16)]
    if not any(c[0] == 'decode' for c in calls) or wrong:
        raise CheckFailed(f'generation and decoding did not both run under bf16 autocast '
                          f'with bf16 logits (calls: {calls})')
    figures = compare_predictions(fp32, bf16, args.bf16_mask_agreement)
    figures.update(predict_s_fp32=fp32['seconds'], predict_s_bf16=bf16['seconds'],
                   peak_mib_fp32=fp32['peak_bytes'] / 2**20,
                   peak_mib_bf16=bf16['peak_bytes'] / 2**20, batch_size=args.batch_size)
    summary = (f"{figures['sentences']} sentences, generated and decoded under bf16 "
               f"autocast (bf16 logits); first "
               f"masks of {figures['sentences_compared']} sentences answered alike agree "
               f"with fp32 on {figures['pixel_agreement']:.2%} of pixels (>= "
               f"{args.bf16_mask_agreement:.0%}); test step {bf16['seconds']:.2f} s bf16 / "
               f"{fp32['seconds']:.2f} s fp32, peak {figures['peak_mib_bf16']:.0f} MiB bf16 / "
               f"{figures['peak_mib_fp32']:.0f} MiB fp32")
    return StepResult('bf16_inference', 'PASS', summary, figures)


# --------------------------------------------------------------------------- ddp_2gpu
def check_ddp(ctx: Context) -> StepResult:
    import torch
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    args, device = ctx.args, ctx.device
    if device == 'cuda' and torch.cuda.device_count() < 2:
        raise CheckSkipped(f'needs 2 CUDA devices, found {torch.cuda.device_count()}')
    iters = args.iters
    step_dir = ctx.step_dir('ddp_2gpu')
    report_dir = osp.join(step_dir, 'reports')
    config = write_config(osp.join(step_dir, 'tiny_ddp.py'), [TINY_CONFIG],
                          extra_hooks=[dict(type=REPORT_HOOK, out_dir=report_dir)])
    progress(f'2-process DDP of the tiny model, {iters} iterations')
    start = time.perf_counter()
    ctx.dist_train(config, 2, osp.join(step_dir, 'work'), 'ddp_2gpu_tiny',
                   *run_train_options(ctx, iters, args.batch_size))
    seconds = time.perf_counter() - start
    reports = read_rank_reports(report_dir, 'train', 2)
    expected_backend = 'nccl' if device == 'cuda' else 'gloo'
    for r in reports:
        if r['world_size'] != 2 or r['backend'] != expected_backend:
            raise CheckFailed(f"rank {r['rank']}: world size {r['world_size']}, backend "
                              f"{r['backend']} (expected 2, {expected_backend})")
        if r['end_iter'] != iters or sorted(map(int, r['losses'])) != list(range(1, iters + 1)):
            raise CheckFailed(f"rank {r['rank']} ran iterations {sorted(r['losses'])} "
                              f"(expected 1..{iters})")
    devices = [r['device'] for r in reports]
    if device == 'cuda' and len(set(devices)) != 2:
        raise CheckFailed(f'both ranks ran on {devices[0]} (expected one GPU each)')
    differ = [n for n in reports[0]['end_digests']
              if reports[0]['end_digests'][n] != reports[1]['end_digests'].get(n)]
    if differ:
        raise CheckFailed(f'the ranks ended with different parameters in {len(differ)} '
                          f'tensors, e.g. {differ[:3]}: DDP did not keep them in sync')
    # The checkpoint loads (strict) into a fresh model and holds what the ranks trained.
    ckpt = osp.join(step_dir, 'work', f'iter_{iters}.pth')
    init_default_scope('desa2va_mm')
    model = MODELS.build(tiny_config(ctx).model)
    load_checkpoint(model, ckpt, map_location='cpu', strict=True, logger='silent')
    loaded = parameter_digests(model)
    mismatch = [n for n, d in reports[0]['end_digests'].items() if loaded.get(n) != d]
    if mismatch:
        raise CheckFailed(f'{ckpt} loads but {len(mismatch)} tensors differ from the '
                          f'trained parameters, e.g. {mismatch[:3]}')
    losses = [reports[0]['losses'][str(i)] for i in range(1, iters + 1)]
    figures = dict(iters=iters, devices=devices, backend=expected_backend,
                   rank0_losses=losses, rank1_losses=[reports[1]['losses'][str(i)]
                                                      for i in range(1, iters + 1)],
                   run_s=seconds, tensors=len(loaded))
    summary = (f'2 ranks ({expected_backend}; {devices[0]}, {devices[1]}) ran {iters} '
               f"iterations each (rank 0 loss {', '.join(f'{v:.3f}' for v in losses)}), "
               f'identical parameters on both ranks ({len(loaded)} tensors), '
               f'iter_{iters}.pth loads strict, {seconds:.0f} s')
    if args.ddp_equivalence:
        figures.update(ddp_equivalence(ctx, step_dir))
        summary += (f"; 2x2 vs 1x4 on the toy model: parameters after each of "
                    f"{figures['equiv_steps']} steps within {figures['equiv_atol']:.0e} + "
                    f"{figures['equiv_rtol']:.0e} x |value| (max |diff| "
                    f"{figures['equiv_max_abs_diff']:.1e})")
    else:
        summary += '; 2x2 vs 1x4 equivalence not run (--no-ddp-equivalence)'
    return StepResult('ddp_2gpu', 'PASS', summary, figures)


def ddp_equivalence(ctx: Context, step_dir: str, rtol: float = 1e-5,
                    atol: float = 1e-6) -> dict:
    """2 processes x batch 2 against 1 process x batch 4 on the toy config.

    The tiny DeSa2VA cannot serve here: its losses use batch statistics (CLUB
    standardisation, per-batch mask means) and its pipeline samples targets at random per
    worker. The toy model's trajectory only depends on the averaged gradient.
    """
    import torch

    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    toy = osp.join(REPO_ROOT, TOY_CONFIG)
    if not osp.isfile(toy):
        raise CheckFailed(f'{TOY_CONFIG} is missing (it ships with the repository tests); '
                          'run from a full checkout or pass --no-ddp-equivalence')
    common = ['train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=1',
              'default_hooks.checkpoint.save_best=None']
    toy_path = osp.join(REPO_ROOT, 'tests', 'data')
    env = dict(PYTHONPATH=toy_path + os.pathsep + REPO_ROOT)
    progress('DDP equivalence: toy model, 1 process x batch 4')
    ctx.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), toy, '--work-dir',
             osp.join(step_dir, 'toy_single'), '--cfg-options', *common,
             'train_dataloader.batch_size=4'], 'ddp_2gpu_toy_single', **env)
    progress('DDP equivalence: toy model, 2 processes x batch 2')
    cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), toy, '2', '--work-dir',
           osp.join(step_dir, 'toy_dist'), '--cfg-options', *common,
           'train_dataloader.batch_size=2']
    ctx.run(cmd, 'ddp_2gpu_toy_dist', PORT=str(free_port()), **env)
    register_checkpoint_safe_globals()
    worst, steps = 0.0, 0
    for i in range(1, 5):
        single = torch.load(osp.join(step_dir, 'toy_single', f'iter_{i}.pth'),
                            map_location='cpu', weights_only=True)['state_dict']
        dist = torch.load(osp.join(step_dir, 'toy_dist', f'iter_{i}.pth'),
                          map_location='cpu', weights_only=True)['state_dict']
        for key in single:
            diff = (dist[key] - single[key]).abs()
            worst = max(worst, float(diff.max()))
            if bool((diff > atol + rtol * single[key].abs()).any()):
                raise CheckFailed(f'toy model after step {i}: {key} differs by up to '
                                  f'{float(diff.max()):.2e} between 2x2 DDP and 1x4 (allowed '
                                  f'{atol:.0e} + {rtol:.0e} x |value|)')
        steps += 1
    return dict(equiv_max_abs_diff=worst, equiv_steps=steps, equiv_rtol=rtol,
                equiv_atol=atol)


# --------------------------------------------------------------------------- zero2_resume
def check_zero2_resume(ctx: Context) -> StepResult:
    import importlib.util

    import torch
    args, device = ctx.args, ctx.device
    if importlib.util.find_spec('deepspeed') is None:
        raise CheckSkipped('deepspeed is not installed (DS_BUILD_OPS=0 pip install '
                           'deepspeed==0.19.6)')
    nproc = 2 if device == 'cpu' else min(2, torch.cuda.device_count())
    bf16 = device == 'cuda' and torch.cuda.is_bf16_supported()
    iters = args.iters
    step_dir = ctx.step_dir('zero2_resume')
    report_dir = osp.join(step_dir, 'reports')
    overrides = (
        # Leaf configs at real size use the same strategy; bf16 needs a GPU.
        f"strategy = dict(type='desa2va_mm.TrainableDeepSpeedStrategy', bf16=dict(enabled={bf16}), "
        'gradient_accumulation_steps=1)\n'
        "optim_wrapper = dict(_delete_=True, type='DeepSpeedOptimWrapper', "
        "optimizer=dict(type='AdamW', lr=1e-4))\n")
    configs = {}
    for tag in ('train', 'resume'):
        configs[tag] = write_config(
            osp.join(step_dir, f'tiny_zero2_{tag}.py'), [TINY_CONFIG, ZERO2_STRATEGY],
            overrides, extra_hooks=[dict(type=REPORT_HOOK, out_dir=report_dir, tag=tag)])
    work = osp.join(step_dir, 'work')
    options = run_train_options(ctx, iters, args.batch_size)
    progress(f'ZeRO-2, {nproc} process(es), {iters} iterations, then --resume to {2 * iters}')
    start = time.perf_counter()
    ctx.dist_train(configs['train'], nproc, work, 'zero2_train', *options)
    ctx.dist_train(configs['resume'], nproc, work, 'zero2_resume',
                   *[o for o in options if not o.startswith('train_cfg.max_iters')],
                   f'train_cfg.max_iters={2 * iters}', resume=True)
    seconds = time.perf_counter() - start
    first = read_rank_reports(report_dir, 'train', nproc)
    second = read_rank_reports(report_dir, 'resume', nproc)
    folder = osp.join(work, f'iter_{iters}.pth')
    if not osp.isdir(folder):
        raise CheckFailed(f'no DeepSpeed checkpoint folder {folder}')
    for saved, resumed in zip(first, second):
        rank = saved['rank']
        if resumed['start_iter'] != iters:
            raise CheckFailed(f"rank {rank} resumed at iteration {resumed['start_iter']}, "
                              f'expected {iters}')
        differ = [n for n, d in saved['end_digests'].items()
                  if resumed['start_digests'].get(n) != d]
        if differ:
            raise CheckFailed(f'rank {rank}: {len(differ)} of {len(saved["end_digests"])} '
                              f'parameters after --resume differ from the saved ones, e.g. '
                              f'{differ[:3]}')
        ran = sorted(map(int, resumed['losses']))
        if ran != list(range(iters + 1, 2 * iters + 1)):
            raise CheckFailed(f'rank {rank}: the resumed run trained iterations {ran}, '
                              f'expected {iters + 1}..{2 * iters}')
        bad = {k: v for k, v in resumed['losses'].items() if not math.isfinite(v)}
        if bad:
            raise CheckFailed(f'rank {rank}: non-finite loss after resuming: {bad}')
        if resumed['end_digests'] == resumed['start_digests']:
            raise CheckFailed(f'rank {rank}: parameters did not change after resuming')
    losses_before = [first[0]['losses'][str(i)] for i in range(1, iters + 1)]
    losses_after = [second[0]['losses'][str(i)] for i in range(iters + 1, 2 * iters + 1)]
    figures = dict(nproc=nproc, bf16=bf16, iters=iters, tensors=len(first[0]['end_digests']),
                   losses_before=losses_before, losses_after=losses_after, run_s=seconds,
                   param_dtype=second[0]['param_dtype'], device=second[0]['device'])
    summary = (f"{nproc} process(es) on {figures['device']} ({'bf16' if bf16 else 'fp32'}): "
               f'saved at iter {iters}, --resume restored all {figures["tensors"]} '
               f'parameter tensors bit-exactly on every rank, iterations {iters + 1}-'
               f"{2 * iters} loss {', '.join(f'{v:.3f}' for v in losses_after)} (finite), "
               f'{seconds:.0f} s')
    return StepResult('zero2_resume', 'PASS', summary, figures)


# --------------------------------------------------------------------------- video memory
def synthetic_video_frames(num_frames: int, size: int, clip: int = 16):
    """``num_frames`` (size, size, 3) uint8 frames, streamed one at a time.

    One synthetic MeViS clip of ``clip`` frames (moving shapes) played forwards and
    backwards: the input never holds more than the clip, whatever ``num_frames``.
    """
    from desa2va_mm.synthetic import generate_video
    frames = generate_video(seed=0, video_index=0, num_frames=clip, image_size=size)['frames']
    order = list(range(clip)) + list(range(clip - 2, 0, -1))
    for i in range(num_frames):
        yield frames[order[i % len(order)]]


def judge_flat(rows: Sequence[dict], tolerance: float, slack_mib: float) -> dict:
    """Is the working memory flat in video length?

    Args:
        rows: One dict per length with ``frames`` and ``working_mib`` (peak minus the
            memory in use before the video), in any order.
        tolerance: Allowed relative growth from the shortest to the longest video.
        slack_mib: Allowed absolute growth on top (allocator / page granularity).

    Returns:
        ``ratio`` (longest / shortest working memory), ``limit_mib`` and ``flat``.
    """
    rows = sorted(rows, key=lambda r: r['frames'])
    shortest, longest = rows[0], rows[-1]
    limit = shortest['working_mib'] * (1 + tolerance) + slack_mib
    ratio = longest['working_mib'] / max(shortest['working_mib'], 1e-9)
    return dict(ratio=ratio, limit_mib=limit, flat=longest['working_mib'] <= limit)


def check_video_memory(ctx: Context) -> StepResult:
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    args, device = ctx.args, ctx.device
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO_ROOT, VIDEO_CONFIG))
    sam2 = args.video_sam2 or ('hiera_l' if device == 'cuda' else 'tiny')
    if sam2 == 'hiera_l':
        # SAM-2 hiera-L at 1024 px with its own memory settings (7 memory frames).
        cfg.model.grounding_encoder = dict(
            type='SAM2Grounding', config='configs/sam2/sam2_hiera_l.yaml',
            checkpoint=args.sam2_checkpoint)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval().to(device)
    size = model.grounding_encoder.image_size
    num_exp = 2
    seg_hidden = torch.randn(num_exp, model.mllm.hidden_size, device=device)
    key_frames = list(range(5))
    rows = []
    unit = 'CUDA max_memory_allocated' if device == 'cuda' else 'RSS sampled per frame'
    lengths = sorted(args.video_lengths)
    # One unmeasured pass first: one-off allocations (lazy buffers, kernel workspaces,
    # the heap's first growth) would otherwise count against the shortest video only.
    progress(f'warm-up: video of {lengths[0]} frames at {size} px ({sam2})')
    for _ in model.segment_video(synthetic_video_frames(lengths[0], size), seg_hidden,
                                 key_frames, num_frames=lengths[0]):
        pass
    for length in lengths:
        progress(f'video of {length} frames at {size} px ({sam2})')
        if device == 'cuda':
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            release_host_memory()
            base = rss_bytes()
        peak = base
        start = time.perf_counter()
        for out in model.segment_video(synthetic_video_frames(length, size), seg_hidden,
                                       key_frames, num_frames=length):
            if out['masks'].shape[0] != num_exp:
                raise CheckFailed(f"frame {out['frame_idx']}: {out['masks'].shape[0]} masks "
                                  f'for {num_exp} expressions')
            if device == 'cpu':
                peak = max(peak, rss_bytes())
            del out
        sync(device)
        seconds = time.perf_counter() - start
        if device == 'cuda':
            peak = torch.cuda.max_memory_allocated()
        rows.append(dict(frames=length, base_mib=base / 2**20, peak_mib=peak / 2**20,
                         working_mib=(peak - base) / 2**20,
                         bank=len(model.video_tracker.memory_bank),
                         s_per_frame=seconds / length))
    slack = args.video_slack_mib if args.video_slack_mib is not None else \
        (0.0 if device == 'cuda' else 16.0)
    verdict = judge_flat(rows, args.video_tolerance, slack)
    figures = dict(sam2=sam2, image_size=size, expressions=num_exp, measure=unit,
                   rows=rows, tolerance=args.video_tolerance, slack_mib=slack, **verdict)
    per_len = ', '.join(f"{r['frames']}f {r['working_mib']:.0f} MiB (bank {r['bank']})"
                        for r in rows)
    shortest, longest = rows[0], rows[-1]
    summary = (f'SAM-2 {sam2} at {size} px, {num_exp} objects; peak above the model '
               f'({unit}): {per_len}; {longest["frames"]}/{shortest["frames"]} frames '
               f"{verdict['ratio']:.3f}x (limit {verdict['limit_mib']:.0f} MiB = "
               f'{shortest["working_mib"]:.0f} x {1 + args.video_tolerance:.2f} + {slack:.0f}); '
               f"{longest['s_per_frame'] * 1000:.0f} ms/frame")
    if not verdict['flat']:
        raise CheckFailed(summary, figures)
    return StepResult('video_memory_1024', 'PASS', summary, figures)


CHECKS: Dict[str, Callable[[Context], StepResult]] = {
    'bf16_step': check_bf16_step,
    'bf16_inference': check_bf16_inference,
    'ddp_2gpu': check_ddp,
    'zero2_resume': check_zero2_resume,
    'video_memory_1024': check_video_memory,
}


def run_check(name: str, check: Callable[[Context], StepResult], ctx: Context) -> StepResult:
    """Run one check; a failure or an exception becomes a FAIL result, never a crash."""
    start = time.perf_counter()
    try:
        result = check(ctx)
    except CheckSkipped as err:
        result = StepResult(name, 'SKIP', str(err))
    except CheckFailed as err:
        result = StepResult(name, 'FAIL', str(err), err.figures)
    except Exception as err:  # report and go on with the other steps
        traceback.print_exc()
        result = StepResult(name, 'FAIL', f'{type(err).__name__}: {err}')
    result.seconds = time.perf_counter() - start
    print(result.line(), flush=True)
    return result


# --------------------------------------------------------------------------- CLI
def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Checks that need GPUs: bf16 training step, bf16 inference, 2-GPU DDP '
        '(NCCL), DeepSpeed ZeRO-2 save/resume, video streaming memory at 1024 px. --device cpu runs the same '
        'logic on the CPU (see docs/gpu_check.md).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--steps', nargs='+', default=list(STEPS), metavar='STEP',
                        help=f'steps to run, in this order: {", ".join(STEPS)}')
    parser.add_argument('--device', choices=['auto', 'cuda', 'cpu'], default='auto',
                        help='auto: CUDA when available, else the CPU')
    parser.add_argument('--out', default=None,
                        help='write the record (machine info + results) to FILE.json or '
                        'FILE.md')
    parser.add_argument('--work-dir', default=None,
                        help='folder for data, configs, logs and checkpoints (default: a '
                        'temporary folder, removed at the end unless a step failed or '
                        '--keep-work-dir)')
    parser.add_argument('--keep-work-dir', action='store_true',
                        help='keep the temporary work folder')
    parser.add_argument('--iters', type=int, default=2,
                        help='training iterations of ddp_2gpu and of each zero2_resume run')
    parser.add_argument('--batch-size', type=int, default=2,
                        help='samples per step (per process in the distributed steps)')
    parser.add_argument('--real-size', action='store_true',
                        help=f'bf16_step also runs a forward/backward of {REAL_CONFIG} with '
                        'random weights (GPU memory permitting; ~20 GiB of RAM on the CPU)')
    parser.add_argument('--real-size-config', default=REAL_CONFIG,
                        help='the config --real-size builds')
    parser.add_argument('--bf16-rtol', type=float, default=0.05,
                        help='bf16_step: largest relative difference of the bf16 loss from '
                        'the fp32 loss')
    parser.add_argument('--min-grad-cosine', type=float, default=0.9,
                        help='bf16_step: smallest cosine similarity of bf16 and fp32 '
                        'gradients')
    parser.add_argument('--bf16-mask-agreement', type=float, default=0.98,
                        help='bf16_inference: smallest fraction of pixels where the bf16 '
                        'masks equal the fp32 ones')
    parser.add_argument('--ddp-equivalence', action=argparse.BooleanOptionalAction,
                        default=True,
                        help='ddp_2gpu: also compare 2x2 DDP with 1x4 on the toy config')
    parser.add_argument('--video-lengths', type=int, nargs='+', default=[16, 64, 128],
                        help='video_memory_1024: video lengths in frames')
    parser.add_argument('--video-sam2', choices=['hiera_l', 'tiny'], default=None,
                        help='video_memory_1024: SAM-2 (hiera_l: 1024 px, the default on '
                        'CUDA; tiny: the tiny model at 128 px, the default on the CPU)')
    parser.add_argument('--sam2-checkpoint', default=None,
                        help='video_memory_1024: sam2_hiera_large.pt (default: random '
                        'weights; memory does not depend on them)')
    parser.add_argument('--video-tolerance', type=float, default=0.10,
                        help='video_memory_1024: allowed relative growth of the peak '
                        'working memory from the shortest to the longest video')
    parser.add_argument('--video-slack-mib', type=float, default=None,
                        help='video_memory_1024: allowed absolute growth on top (default 0 '
                        'on CUDA, 16 MiB on the CPU for RSS page / heap granularity)')
    parser.add_argument('--timeout', type=int, default=1800,
                        help='seconds allowed for each training subprocess')
    args = parser.parse_args(argv)
    unknown = [s for s in args.steps if s not in STEPS]
    if unknown:
        parser.error(f'unknown step(s) {unknown}; choose from {list(STEPS)}')
    if args.out is not None and not args.out.endswith(('.json', '.md')):
        parser.error(f'--out {args.out!r}: the record is written as .json or .md; name the '
                     'file with one of these extensions')
    for name in ('iters', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if any(n < 1 for n in args.video_lengths) or len(set(args.video_lengths)) < 2:
        parser.error(f'--video-lengths {args.video_lengths}: give at least two different '
                     'positive lengths (flatness is judged from the shortest to the longest)')
    return parser, args


def resolve_device(parser, requested: str) -> str:
    import torch
    if requested == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if requested == 'cuda' and not torch.cuda.is_available():
        parser.error(f'--device cuda: no CUDA device is visible to torch {torch.__version__} '
                     f'(torch.version.cuda={torch.version.cuda}); check nvidia-smi and '
                     'CUDA_VISIBLE_DEVICES, or run the CPU checks with --device cpu')
    return requested


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, args = parse_args(argv)
    device = resolve_device(parser, args.device)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='gpu_check_')
    os.makedirs(work_dir, exist_ok=True)
    machine = machine_info()
    gpus = ', '.join(g['name'] for g in machine['gpus']) or 'no GPU'
    print(f"{PREFIX} device {device}; {machine['gpu_count']} GPU(s) ({gpus}); torch "
          f"{machine['torch']} (CUDA {machine['torch_cuda']}); work dir {work_dir}",
          flush=True)
    # MMEngine logs every parameter at init_weights (INFO): keep the tool's output readable.
    MMLogger.get_instance('gpu_check', log_level='WARNING')
    ctx = Context(args, device, work_dir)
    results = []
    for name in args.steps:
        results.append(run_check(name, CHECKS[name], ctx))
        if name == 'bf16_step' and args.real_size:
            results.append(run_check('bf16_step_real_size', check_bf16_real_size, ctx))
    verdict = summarize(results)
    counts = verdict['counts']
    steps = ', '.join(f'{r.name} {r.status}' for r in results)
    print(f"{PREFIX} summary: {counts['PASS']} PASS, {counts['FAIL']} FAIL, "
          f"{counts['SKIP']} SKIP on {device} ({steps})", flush=True)
    if args.out:
        write_record(args.out, results, machine, device, argv)
        print(f'{PREFIX} record written to {args.out}', flush=True)
    if args.work_dir is None and not args.keep_work_dir:
        if verdict['exit_code']:
            print(f'{PREFIX} kept {work_dir} (logs of the failed steps)', flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return verdict['exit_code']


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    sys.exit(main())
