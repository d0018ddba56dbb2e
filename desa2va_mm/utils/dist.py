"""Distributed set-up and tear-down for CPU-only machines (gloo).

MMEngine 0.10.7 cannot start a distributed run without an accelerator:
``mmengine.dist.init_dist`` calls ``torch.cuda.set_device(local_rank)`` for the
``pytorch``, ``slurm`` and ``mpi`` launchers before it creates the process group, and
that raises on a CPU build of torch. ``Runner.setup_env`` only calls ``init_dist`` when
no process group exists yet, so :func:`setup_cpu_distributed` creates the gloo group
itself (from the launcher's environment variables) *before* the runner is built, and
MMEngine then just uses it.

:func:`finalize_distributed` ends such a run. gloo worker processes that reach the
normal interpreter shutdown with a live (or even destroyed) process group abort with
SIGABRT in about one run in three (C++ destructors of the gloo threads racing the
interpreter's teardown), so the launcher reports a failure after a successful run.
Synchronising, destroying the group and leaving with ``os._exit`` avoids that
teardown entirely. Inside :func:`hold_process_group` (``tools/run_steps.py`` running
several tools in one process) it only synchronises the ranks, and the group lives on for
the next run.

:func:`use_device_agnostic_ddp` points ``cfg.model_wrapper_cfg`` to
:class:`desa2va_mm.models.wrappers.DeviceAgnosticDDP`, because ``Runner.wrap_model``
passes ``device_ids=[LOCAL_RANK]``, which ``DistributedDataParallel`` rejects for a CPU
module.
"""
import datetime
import logging
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
import torch.distributed as torch_dist

__all__ = [
    'accelerator_available', 'setup_cpu_distributed', 'finalize_distributed',
    'use_device_agnostic_ddp', 'resolve_model_wrapper_type', 'DEVICE_AGNOSTIC_DDP',
    'adapt_fsdp_to_cpu', 'hold_process_group'
]

#: ``type`` of the CPU-capable DDP wrapper, as a full import path. ``Runner.wrap_model``
#: looks the type up with MMEngine's *root* ``MODEL_WRAPPERS.get``, which only searches
#: the root, its parents and its direct children (``mmdet.X``); neither
#: ``'DeviceAgnosticDDP'`` nor ``'desa2va_mm.DeviceAgnosticDDP'`` resolves there (our
#: registry is a grandchild: mmengine -> mmdet -> desa2va_mm). A dotted import path
#: resolves through ``Registry.get``'s ``get_object_from_string`` fallback.
DEVICE_AGNOSTIC_DDP = 'desa2va_mm.models.wrappers.device_agnostic_ddp.DeviceAgnosticDDP'

_LAUNCHERS = ('pytorch', 'slurm', 'mpi')


def accelerator_available() -> bool:
    """Whether MMEngine's own ``init_dist`` can handle this machine.

    True for CUDA and for the other devices MMEngine 0.10.7 sets up itself (NPU, MLU,
    MUSA); False on a CPU-only build (and on Apple MPS, which ``init_dist`` does not
    support either).
    """
    if torch.cuda.is_available():
        return True
    try:
        from mmengine.device import (is_mlu_available, is_musa_available,
                                     is_npu_available)
    except ImportError:  # pragma: no cover - mmengine is a hard dependency
        return False
    return bool(is_npu_available() or is_mlu_available() or is_musa_available())


def _require_env(name: str, launcher: str) -> str:
    value = os.environ.get(name)
    if value is None or value == '':
        raise RuntimeError(
            f'--launcher {launcher} needs the environment variable {name}, which is '
            'not set. Start the script through its launcher (tools/dist_train.sh or '
            'torchrun for "pytorch", srun / tools/slurm_train.sh for "slurm", '
            'mpirun for "mpi").')
    return value


def _env_for_pytorch() -> None:
    # torchrun (torch.distributed.run) exports all of these.
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        _require_env(name, 'pytorch')
    os.environ.setdefault('LOCAL_RANK', '0')


def _env_for_slurm(port: Optional[int]) -> None:
    proc_id = _require_env('SLURM_PROCID', 'slurm')
    ntasks = _require_env('SLURM_NTASKS', 'slurm')
    local_rank = os.environ.get('SLURM_LOCALID', '0')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    else:
        os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = _require_env('SLURM_NODELIST', 'slurm')
        # Same as MMEngine: the first host of the allocation is the master.
        addr = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1').strip()
        if not addr or ' ' in addr:
            raise RuntimeError(
                'could not resolve the master host from SLURM_NODELIST='
                f'{node_list!r} with `scontrol show hostname` (got {addr!r}); '
                'set MASTER_ADDR explicitly')
        os.environ['MASTER_ADDR'] = addr
    os.environ['WORLD_SIZE'] = ntasks
    os.environ['RANK'] = proc_id
    os.environ['LOCAL_RANK'] = local_rank


def _env_for_mpi(port: Optional[int]) -> None:
    rank = _require_env('OMPI_COMM_WORLD_RANK', 'mpi')
    size = _require_env('OMPI_COMM_WORLD_SIZE', 'mpi')
    os.environ['LOCAL_RANK'] = os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    else:
        os.environ.setdefault('MASTER_PORT', '29500')
    _require_env('MASTER_ADDR', 'mpi')
    os.environ['WORLD_SIZE'] = size
    os.environ['RANK'] = rank


def setup_cpu_distributed(launcher: str, dist_cfg: Optional[dict] = None) -> bool:
    """Create a gloo process group for a distributed run on a CPU-only machine.

    Call it before ``Runner.from_cfg``. It does nothing (and returns False) when
    ``launcher`` is ``'none'`` or when an accelerator MMEngine can set up itself is
    present. Otherwise it reads the launcher's environment (``pytorch``: ``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` from torchrun;
    ``slurm``: ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``,
    ``SLURM_NODELIST`` (master = first host) and ``MASTER_PORT`` (default 29500);
    ``mpi``: ``OMPI_COMM_WORLD_RANK``, ``OMPI_COMM_WORLD_SIZE``,
    ``OMPI_COMM_WORLD_LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), exports the
    torch names (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``...) and initialises
    ``torch.distributed`` with the gloo backend through ``env://``.

    Args:
        launcher: ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
        dist_cfg: ``cfg.env_cfg.dist_cfg``; ``timeout`` (seconds) and ``port``
            (slurm / mpi) are honoured, ``backend`` is replaced by ``'gloo'`` (the
            only CPU backend), other keys are ignored.

    Returns:
        True when a gloo group exists after the call (created here or before).
    """
    if launcher in (None, 'none'):
        return False
    if launcher not in _LAUNCHERS:
        raise ValueError(f'invalid launcher {launcher!r}; expected one of '
                         f"{('none',) + _LAUNCHERS}")
    if accelerator_available():
        return False
    if not torch_dist.is_available():
        raise RuntimeError('this torch build has no torch.distributed support')
    if torch_dist.is_initialized():
        return True

    dist_cfg = dict(dist_cfg or {})
    port = dist_cfg.get('port')
    if launcher == 'pytorch':
        _env_for_pytorch()
    elif launcher == 'slurm':
        _env_for_slurm(port)
    else:
        _env_for_mpi(port)

    kwargs = {}
    timeout = dist_cfg.get('timeout')
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend='gloo',
        init_method='env://',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)
    return True


def use_device_agnostic_ddp(cfg) -> bool:
    """Make ``cfg.model_wrapper_cfg`` use ``DeviceAgnosticDDP`` (in place).

    Keeps every key the user gave (``find_unused_parameters``,
    ``detect_anomalous_params``...). Without a ``model_wrapper_cfg`` it reproduces the
    wrapper MMEngine would have built (``broadcast_buffers=False`` and
    ``find_unused_parameters=cfg.find_unused_parameters``). A user-chosen wrapper
    other than ``MMDistributedDataParallel`` is left alone.

    Returns:
        True when the config now uses ``DeviceAgnosticDDP``.
    """
    wrapper_cfg = cfg.get('model_wrapper_cfg', None)
    if wrapper_cfg is None:
        cfg.model_wrapper_cfg = dict(
            type=DEVICE_AGNOSTIC_DDP,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        return True
    wrapper_type = wrapper_cfg.get('type', 'MMDistributedDataParallel')
    short = wrapper_type.split('.')[-1] if isinstance(wrapper_type, str) else None
    if short in ('MMDistributedDataParallel', 'DeviceAgnosticDDP'):
        wrapper_cfg['type'] = DEVICE_AGNOSTIC_DDP
        return True
    return False


def adapt_fsdp_to_cpu(cfg) -> bool:
    """Make an ``FSDPStrategy`` config run on a CPU-only machine (gloo), in place.

    Two things in MMEngine 0.10.7's FSDP path assume an accelerator:

    * the wrapper gets ``device_id=int(LOCAL_RANK)``, which torch's FSDP reads as an
      accelerator index ("Cannot access accelerator device when none is available"):
      ``strategy.model_wrapper.device_id`` becomes ``'cpu'`` unless the config sets one;
    * ``state_dict_cfg='full'`` gathers the state dict with ``offload_to_cpu=True``, which
      crashes rank 0 with SIGSEGV inside torch's FSDP unshard when a checkpoint is saved
      (reproduced with a two-layer model, torch 2.13); ``offload_to_cpu=False`` — a no-op
      here, the parameters already live on the CPU — saves.

    GPU runs do not call this and keep MMEngine's behaviour.

    Returns:
        True when ``cfg.strategy`` is an FSDP strategy (and was adapted).
    """
    strategy = cfg.get('strategy', None)
    if not isinstance(strategy, dict) or strategy.get('type') not in (
            'FSDPStrategy', 'mmengine.FSDPStrategy'):
        return False
    wrapper = strategy.get('model_wrapper') or {}
    wrapper.setdefault('device_id', 'cpu')
    strategy['model_wrapper'] = wrapper
    if strategy.get('state_dict_cfg', 'local') == 'full':
        strategy['state_dict_cfg'] = dict(
            state_dict_type='FULL_STATE_DICT',
            state_dict_config=dict(type='FullStateDictConfig', rank0_only=True,
                                   offload_to_cpu=False),
            optim_state_dict_config=dict(type='FullOptimStateDictConfig', rank0_only=True,
                                         offload_to_cpu=False))
    return True


def resolve_model_wrapper_type(cfg) -> None:
    """Rewrite ``cfg.model_wrapper_cfg.type`` naming one of *our* wrappers (in place).

    ``Runner.wrap_model`` resolves the type with MMEngine's root registry, which
    cannot see ``desa2va_mm.registry.MODEL_WRAPPERS`` (see ``DEVICE_AGNOSTIC_DDP``), so
    ``type='DeviceAgnosticDDP'`` or ``'desa2va_mm.DeviceAgnosticDDP'`` would fail with
    "issubclass() arg 1 must be a class". Such names become the class's import path;
    types of MMEngine / mmdet and import paths are left alone.
    """
    wrapper_cfg = cfg.get('model_wrapper_cfg', None)
    if not isinstance(wrapper_cfg, dict) or \
            not isinstance(wrapper_cfg.get('type'), str):
        return
    from desa2va_mm.registry import MODEL_WRAPPERS, SCOPE
    MODEL_WRAPPERS.import_from_location()  # registration is lazy: import our wrappers
    scope, key = MODEL_WRAPPERS.split_scope_key(wrapper_cfg['type'])
    if scope in (None, SCOPE) and key in MODEL_WRAPPERS.module_dict:
        wrapper_cls = MODEL_WRAPPERS.module_dict[key]
        wrapper_cfg['type'] = f'{wrapper_cls.__module__}.{wrapper_cls.__name__}'


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - closed / replaced streams
            pass
    # os._exit skips logging.shutdown: flush every handler (MMLogger file handlers).
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values()
        if isinstance(lg, logging.Logger)
    ]
    try:
        from mmengine.logging import MMLogger
        loggers += list(MMLogger._instance_dict.values())
    except Exception:  # noqa: BLE001
        pass
    for lg in loggers:
        for handler in getattr(lg, 'handlers', []):
            try:
                handler.flush()
            except Exception:  # noqa: BLE001
                pass


#: Set by :func:`hold_process_group`: the process runs several tools in turn.
_held = False


@contextmanager
def hold_process_group() -> Iterator[None]:
    """Keep the process group for the next run in the same process.

    Inside it, :func:`finalize_distributed` only synchronises the ranks and returns (or
    raises ``SystemExit(code)`` for a failure) instead of destroying the group and
    leaving the process, so a later runner in the same process finds the group and uses
    it (:func:`setup_cpu_distributed` returns early). Whoever holds the group ends it
    with :func:`finalize_distributed` after the block.
    """
    global _held
    previous, _held = _held, True
    try:
        yield
    finally:
        _held = previous


def finalize_distributed(code: int = 0, sync: bool = True) -> None:
    """End a (CPU / gloo) distributed process cleanly and exit with ``code``.

    Runs ``barrier()`` and ``destroy_process_group()`` when a group exists, flushes
    stdout, stderr and every logging handler, then leaves with ``os._exit(code)``
    (no interpreter teardown, hence no gloo SIGABRT). It never returns; if the
    barrier or the tear-down fails, the traceback is printed and the exit code is 1
    (unless ``code`` already reports a failure). ``sync=False`` (a failure on this rank
    alone: the others may wait in a collective that never comes) skips the barrier and
    the tear-down and only flushes and leaves. Inside :func:`hold_process_group`
    it only runs the barrier (for ``code == 0``), flushes and returns, or raises
    ``SystemExit(code)`` without a barrier for a failure (the other ranks may be
    waiting in a collective that will never come).
    """
    if _held:
        if code:
            _flush_all()
            raise SystemExit(code)
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.barrier()
        _flush_all()
        return
    try:
        if sync and torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.barrier()
            # Let gloo's worker threads finish releasing completed work first: that
            # can need the GIL (a work keeps the autograd thread-local state, with
            # Python objects), while destroy_process_group joins those threads
            # *holding* the GIL -> deadlock. Seen once in-process after a DDP
            # backward; sleeping releases the GIL for them.
            time.sleep(0.1)
            torch_dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - we are exiting either way
        import traceback
        traceback.print_exc()
        code = code or 1
    _flush_all()
    os._exit(code)
