"""Save a checkpoint and stop cleanly when the scheduler preempts the training job."""
import itertools
import logging
import math
import os
import os.path as osp
import signal
import threading
import weakref
from typing import Dict, Iterable, Iterator, Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.fileio import get_file_backend, join_path
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import get_worker_info
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

from desa2va_mm.registry import HOOKS
from desa2va_mm.utils.atomic_io import atomic_open
from .exact_resume_hook import RNG_STATE_KEY, ExactResumeHook, set_rng_state

#: Key of the preemption record in ``checkpoint['meta']``.
PREEMPTION_META_KEY = 'preemption'

# Process-wide signal state. A signal handler belongs to the process, not to a hook: it is
# installed once (when the first hook is built, so that data-loader workers forked while
# the runner builds its train loop inherit it) and forwards to the hook of the training
# run in progress, if any.
_previous_handlers: Dict[int, object] = {}
_installer_pid: Optional[int] = None  # the process that installed the handler
# A weak reference: a run that died of an exception must not keep catching signals.
_armed_hook: Optional[weakref.ref] = None


def _signal_number(sig: Union[str, int]) -> int:
    """``'SIGUSR1'`` / ``'USR1'`` / ``10`` -> 10, or ValueError naming the valid names."""
    if isinstance(sig, int) and not isinstance(sig, bool):
        try:
            return int(signal.Signals(sig))
        except ValueError:
            pass
    elif isinstance(sig, str):
        name = sig.upper() if sig.upper().startswith('SIG') else 'SIG' + sig.upper()
        if name in signal.Signals.__members__ and name not in ('SIGKILL', 'SIGSTOP'):
            return int(signal.Signals[name])
    raise ValueError(
        f'PreemptionCheckpointHook: {sig!r} is not a signal that can be caught; use names '
        "such as 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGINT' (SIGKILL and SIGSTOP cannot be "
        'caught)')


def _on_signal(signum: int, frame) -> None:
    """The handler. Python runs it in the main thread between two bytecodes of whatever
    was executing (a forward pass, a checkpoint write, a logging call holding its lock), so
    it only records the signal: no logging, no I/O, no collective."""
    if get_worker_info() is not None:
        # A data-loader worker (forked with this handler). Slurm signals every process of
        # the job step: the worker keeps serving batches and the main process ends it;
        # a worker whose main process is gone takes the signal's usual action.
        if os.getppid() == _installer_pid:
            return
        _pass_on(signum, frame)
        return
    hook = _armed_hook() if _armed_hook is not None else None
    if hook is not None:
        if hook.received_signal is None:
            hook.received_signal = signum
        return
    _pass_on(signum, frame)


def _pass_on(signum: int, frame) -> None:
    """Outside training, act as if this module had never touched the signal."""
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # default action (terminate for SIGTERM / SIGUSR1): deliver it again
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        signal.signal(signum, _on_signal)  # still alive: the default action was 'ignore'


def install_signal_handlers(signals: Iterable[int]) -> bool:
    """Route ``signals`` to :func:`_on_signal` in this process (idempotent).

    Returns:
        False when called outside the main thread (Python only lets the main thread set
        handlers); nothing is installed then.
    """
    global _installer_pid
    if threading.current_thread() is not threading.main_thread():
        return False
    _installer_pid = os.getpid()
    for signum in signals:
        if signal.getsignal(signum) is not _on_signal:
            _previous_handlers[signum] = signal.signal(signum, _on_signal)
    return True


def _is_last_iteration(runner) -> bool:
    return runner.iter + 1 >= runner.max_iters


@HOOKS.register_module()
class PreemptionCheckpointHook(Hook):
    """Checkpoint at the next iteration boundary and stop when the job is preempted.

    Cluster schedulers warn before they kill: slurm and Kubernetes send ``SIGTERM`` (then
    ``SIGKILL`` after a grace period), and ``sbatch --signal=B:USR1@120`` /
    ``srun --signal=USR1@120`` send ``SIGUSR1`` 120 s before the time limit. On one of
    ``signals`` during training this hook

    1. only records the signal in the handler (nothing else is safe at an arbitrary point
       of the main thread);
    2. after each training iteration, agrees on it across ranks (all-reduce max of the
       signal number: every rank stops after the *same* iteration even when only one rank
       was signalled); with gradient accumulation (``accumulative_counts`` or DeepSpeed's
       ``gradient_accumulation_steps``) it carries on to the end of the accumulation
       window, since the accumulated gradients are not part of a checkpoint;
    3. saves ``iter_{n}.pth`` through ``runner.save_checkpoint`` on every rank (rank 0
       writes it for DDP; DeepSpeed / FSDP ranks take part as their strategy requires),
       into the ``CheckpointHook``'s folder, so ``ExactResumeHook``'s RNG states and
       ``TrainableCheckpointHook``'s filtering apply; then waits for every rank and points
       ``work_dir/last_checkpoint`` at it (written atomically, after the checkpoint is
       complete), so ``tools/train.py CONFIG --resume`` continues from it;
    4. stops the train loop without the validation or epoch-end work the loop would start
       next, and logs the checkpoint. ``tools/train.py`` then exits with ``exit_code``.

    ``--resume`` from such a checkpoint is bit-exact (with ``ExactResumeHook``): the same
    parameters, optimizer, scheduler and RNG states, and the same remaining batches.
    MMEngine's epoch-based loop cannot stop or resume inside an epoch, so for
    ``EpochBasedTrainLoop`` this hook runs the epoch itself: it stops after the agreed
    iteration and, on resume, skips the batches of the interrupted epoch that were already
    trained (loading them again like MMEngine's iteration-based resume, or at the sampler
    when ``default_hooks.exact_resume.fast_forward=True``), then restores the RNG states.

    A signal that arrives while the job is not training (building, resuming from a
    checkpoint, ``tools/test.py``) keeps its previous meaning (the default: terminate).
    Data-loader worker processes forked from the main process ignore these signals while
    it runs (slurm signals every process of a job step; a worker that died would take the
    run down before it could save); the hook shuts the workers down when the run ends.

    Once a regular ``CheckpointHook`` checkpoint supersedes a preemption checkpoint of the
    resumed run, the latter is deleted when ``max_keep_ckpts`` limits checkpoints.
    Configuration and slurm / Kubernetes commands: docs/reliability.md.

    Args:
        signals: Signal names (or numbers) that mean "preempted". Defaults to
            ``('SIGTERM', 'SIGUSR1')``.
        exit_code: Exit status of ``tools/train.py`` after a preemption stop: 0 (the
            default: a clean exit, what ``torchrun`` and Kubernetes expect of a process
            that finished its work) or a code a job script tests to requeue itself.
    """

    # After CheckpointHook (VERY_LOW): a checkpoint it wrote this iteration is reused.
    priority = 'LOWEST'

    def __init__(self, signals: Sequence[Union[str, int]] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = 0) -> None:
        if isinstance(signals, (str, int)):
            signals = (signals, )
        self.signals = tuple(_signal_number(s) for s in signals)
        if not self.signals:
            raise ValueError('PreemptionCheckpointHook: signals is empty; name at least '
                             "one signal (e.g. signals=('SIGTERM',)) or remove the hook")
        if not isinstance(exit_code, int) or not 0 <= exit_code <= 255:
            raise ValueError(f'PreemptionCheckpointHook: exit_code must be an int in '
                             f'[0, 255], got {exit_code!r}')
        self.exit_code = exit_code
        #: First preemption signal received by this process (set by the handler).
        self.received_signal: Optional[int] = None
        #: True once the preemption checkpoint is saved and the loop told to stop.
        self.preempted = False
        #: Path of the preemption checkpoint (None if none was saved).
        self.checkpoint_path: Optional[str] = None
        self._agreed_signal = 0
        self._waiting_logged = False
        self._resumed = False
        self._resume_rng: Optional[dict] = None
        self._superseded: Optional[str] = None
        self._last_ckpt_at_resume: Optional[str] = None
        install_signal_handlers(self.signals)

    # ---- arming ------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        global _armed_hook
        if not install_signal_handlers(self.signals):
            print_log('PreemptionCheckpointHook: training runs outside the main thread, '
                      'where Python cannot install signal handlers; preemption signals '
                      'keep their default action', logger='current', level=logging.WARNING)
        self.received_signal = None
        self.preempted = False
        self.checkpoint_path = None
        self._agreed_signal = 0
        self._waiting_logged = False
        _armed_hook = weakref.ref(self)
        names = ', '.join(signal.Signals(s).name for s in self.signals)
        print_log(f'PreemptionCheckpointHook: on {names} the run saves a checkpoint after '
                  f'the current iteration and exits with code {self.exit_code}; continue '
                  'it with tools/train.py CONFIG --resume', logger='current')
        self._prepare_loop(runner)
        self._last_ckpt_at_resume = runner.message_hub.get_info('last_ckpt')

    def after_train_epoch(self, runner) -> None:
        self._remove_superseded(runner)

    def after_train(self, runner) -> None:
        self._disarm()

    def after_run(self, runner) -> None:
        self._disarm()
        _shutdown_loader_workers(runner)

    def _disarm(self) -> None:
        global _armed_hook
        if _armed_hook is not None and _armed_hook() is self:
            _armed_hook = None

    # ---- the stop ----------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._remove_superseded(runner)
        if self.preempted:
            return
        if not self._agreed_signal:
            self._agreed_signal = self._agree(runner)
            if not self._agreed_signal:
                return
        if _is_last_iteration(runner):
            print_log(f'PreemptionCheckpointHook: {self._signal_name} arrived during the '
                      'last iteration: the run finishes normally', logger='current')
            self._agreed_signal = 0
            self.received_signal = None
            return
        if not self._at_accumulation_boundary(runner):
            if not self._waiting_logged:
                print_log(f'PreemptionCheckpointHook: {self._signal_name} received; '
                          'finishing the gradient accumulation window before saving',
                          logger='current')
                self._waiting_logged = True
            return
        self._save_and_stop(runner)

    @property
    def _signal_name(self) -> str:
        try:
            return signal.Signals(self._agreed_signal).name
        except ValueError:
            return f'signal {self._agreed_signal}'

    def _agree(self, runner) -> int:
        """The largest signal number any rank received (0: none); a collective."""
        local = self.received_signal or 0
        if get_world_size() == 1:
            return local
        flag = torch.tensor([local], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item())

    @staticmethod
    def _at_accumulation_boundary(runner) -> bool:
        """True when the last iteration ended with an optimizer step (no accumulated
        gradients pending)."""
        optim_wrapper = runner.optim_wrapper
        wrappers = (list(optim_wrapper.values())
                    if isinstance(optim_wrapper, OptimWrapperDict) else [optim_wrapper])
        for wrapper in wrappers:
            engine = getattr(wrapper, '_model', None)  # DeepSpeedOptimWrapper's engine
            if engine is not None and hasattr(engine, 'gradient_accumulation_steps'):
                steps = engine.gradient_accumulation_steps()
                if steps > 1 and engine.micro_steps % steps != 0:
                    return False
            elif hasattr(wrapper, 'should_update') and hasattr(wrapper, '_inner_count'):
                # After the backward of this iteration: True iff it stepped.
                if not wrapper.should_update():
                    return False
        return True

    def _checkpoint_hook(self, runner) -> Optional[CheckpointHook]:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                return hook
        return None

    def _save_and_stop(self, runner) -> None:
        ckpt_hook = self._checkpoint_hook(runner)
        out_dir = getattr(ckpt_hook, 'out_dir', None) or runner.work_dir
        backend_args = getattr(ckpt_hook, 'backend_args', None)
        step = runner.iter + 1
        filename = f'iter_{step}.pth'
        path = join_path(out_dir, filename, backend_args=backend_args)
        reused = (ckpt_hook is not None and runner.message_hub.get_info('last_ckpt') == path
                  and getattr(ckpt_hook, 'by_epoch', True) is False)
        if not reused:
            meta = dict(epoch=runner.epoch, iter=step,
                        **{PREEMPTION_META_KEY: dict(signal=self._signal_name, path=path)})
            runner.save_checkpoint(out_dir, filename, meta=meta, by_epoch=False,
                                   save_optimizer=True, save_param_scheduler=True,
                                   backend_args=backend_args)
        # No rank leaves before the checkpoint is complete on every rank.
        barrier()
        if is_main_process():
            with atomic_open(osp.join(runner.work_dir, 'last_checkpoint')) as f:
                f.write(path)
        self.preempted = True
        self.checkpoint_path = path
        loop = runner.train_loop
        loop.stop_training = True
        # The loop would validate next when this iteration ends a validation interval:
        # the scheduler's grace period is for the checkpoint, not for an evaluation.
        loop.val_begin = math.inf
        print_log(f'PreemptionCheckpointHook: {self._signal_name} received; saved '
                  f'checkpoint {path} after iteration {step} (epoch {runner.epoch + 1}); '
                  f'stopping, exit code {self.exit_code}. Continue with: '
                  'python tools/train.py CONFIG --resume', logger='current',
                  level=logging.WARNING)

    # ---- resuming (epoch-based loops) --------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from (weights only)
        self._resumed = True
        self._resume_rng = checkpoint.get(RNG_STATE_KEY)
        record = checkpoint.get('meta', {}).get(PREEMPTION_META_KEY)
        self._superseded = record.get('path') if isinstance(record, dict) else None

    def _prepare_loop(self, runner) -> None:
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            return  # MMEngine stops on stop_training and resumes inside its one "epoch"
        if isinstance(loop, EpochBasedTrainLoop) and \
                type(loop).run_epoch is EpochBasedTrainLoop.run_epoch:
            loop.run_epoch = lambda: self._run_epoch(runner, loop)
            return
        print_log(f'PreemptionCheckpointHook: {type(loop).__name__} is not one of '
                  "MMEngine's train loops; a preempted run saves a checkpoint but may only "
                  'stop at the end of the epoch', logger='current', level=logging.WARNING)

    def _run_epoch(self, runner, loop) -> None:
        """``EpochBasedTrainLoop.run_epoch`` that can start and stop inside an epoch."""
        runner.call_hook('before_train_epoch')
        runner.model.train()
        done = self._batches_done(runner, loop)
        for idx, data_batch in enumerate(self._epoch_batches(runner, loop, done),
                                         start=done):
            loop.run_iter(idx, data_batch)
            if self.preempted:
                return  # not a finished epoch: no epoch-end hooks, same epoch on resume
        runner.call_hook('after_train_epoch')
        loop._epoch += 1

    def _batches_done(self, runner, loop) -> int:
        """Batches of the current epoch trained before the checkpoint (0 if none)."""
        if not self._resumed:
            return 0
        self._resumed = False
        per_epoch = len(loop.dataloader)
        done = loop.iter - loop.epoch * per_epoch
        if done == 0:
            return 0
        if not 0 < done <= per_epoch:
            print_log(f'PreemptionCheckpointHook: the checkpoint is at iteration '
                      f'{loop.iter} of epoch {loop.epoch + 1}, which does not fit epochs of '
                      f'{per_epoch} batches (a different batch size or data set?); '
                      'training the whole epoch again', logger='current',
                      level=logging.WARNING)
            return 0
        return done

    def _epoch_batches(self, runner, loop, done: int) -> Iterator:
        """The epoch's batches from number ``done`` on; the RNG states of the checkpoint
        are restored right before the first of them is fetched."""
        dataloader = loop.dataloader
        state, self._resume_rng = self._resume_rng, None
        if done == 0:
            yield from dataloader
            return
        if done == len(dataloader):
            # Stopped after the epoch's last batch, before its epoch-end hooks: nothing is
            # left to load; the loop runs those hooks next.
            if state is not None:
                set_rng_state(state)
            return
        skipped_at_sampler = self._fast_forward(runner) and _skip_at_sampler(
            dataloader, done)
        iterator = iter(dataloader)
        if not skipped_at_sampler:
            print_log(f'PreemptionCheckpointHook: loading the {done} batches of epoch '
                      f'{loop.epoch + 1} trained before the checkpoint again to reach its '
                      'place (default_hooks.exact_resume.fast_forward=True skips them at '
                      'the sampler)', logger='current')
            for _ in range(done):
                next(iterator)
        if state is not None:
            set_rng_state(state)
        yield from iterator

    @staticmethod
    def _fast_forward(runner) -> bool:
        return any(isinstance(h, ExactResumeHook) and h.fast_forward for h in runner.hooks)

    def _remove_superseded(self, runner) -> None:
        """Delete the resumed preemption checkpoint once CheckpointHook saved a newer one
        (only where its ``max_keep_ckpts`` limits checkpoints)."""
        if self._superseded is None:
            return
        ckpt_hook = self._checkpoint_hook(runner)
        last = runner.message_hub.get_info('last_ckpt')
        if ckpt_hook is None or last in (None, self._last_ckpt_at_resume, self._superseded):
            return
        path, self._superseded = self._superseded, None
        if getattr(ckpt_hook, 'max_keep_ckpts', -1) <= 0 or not is_main_process():
            return
        backend = get_file_backend(path, backend_args=getattr(ckpt_hook, 'backend_args',
                                                               None))
        if backend.isfile(path):
            backend.remove(path)
        elif backend.isdir(path):  # DeepSpeed checkpoints are folders
            backend.rmtree(path)
        print_log(f'PreemptionCheckpointHook: removed {path} (superseded by {last})',
                  logger='current')


class _SkipFirstIndices:
    """A sampler whose next pass starts ``skip`` indices later; it then puts the original
    sampler back into the batch sampler (one resumed epoch only)."""

    def __init__(self, batch_sampler, skip: int) -> None:
        self.batch_sampler = batch_sampler
        self.sampler = batch_sampler.sampler
        self.skip = skip

    def __iter__(self):
        self.batch_sampler.sampler = self.sampler
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return len(self.sampler)


def _skip_at_sampler(dataloader, batches: int) -> bool:
    """Make the dataloader's next pass start ``batches`` batches later without loading
    them; False if its batch sampler is not a plain ``sampler`` + ``batch_size`` one."""
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    batch_size = getattr(batch_sampler, 'batch_size', None)
    if batch_size is None or not hasattr(batch_sampler, 'sampler'):
        print_log('PreemptionCheckpointHook: fast_forward needs a batch sampler with a '
                  f'batch_size, got {type(batch_sampler).__name__}; loading the trained '
                  'batches instead', logger='current', level=logging.WARNING)
        return False
    batch_sampler.sampler = _SkipFirstIndices(batch_sampler, batches * batch_size)
    if getattr(dataloader, 'num_workers', 0) > 0:
        print_log('PreemptionCheckpointHook: fast_forward with dataloader workers keeps '
                  'the data order, but random transforms in the workers differ from the '
                  'interrupted run', logger='current', level=logging.WARNING)
    print_log(f'PreemptionCheckpointHook: skipped {batches} trained batches of the epoch '
              'at the sampler', logger='current')
    return True


def _shutdown_loader_workers(runner) -> None:
    """Stop the worker processes of the run's train / val data loaders.

    ``tools/train.py`` ends CPU-distributed runs with ``os._exit`` (no interpreter
    teardown: ``desa2va_mm/utils/dist.py``), which skips the loaders' own shutdown. Their
    workers then outlived the run, blocked on a full result pipe (a sibling worker keeps
    its read end open), holding the launcher's output pipes open.
    """
    iterators = []
    for loop in (getattr(runner, '_train_loop', None), getattr(runner, '_val_loop', None)):
        dataloader = getattr(loop, 'dataloader', None)
        if dataloader is None or isinstance(loop, dict):
            continue
        persistent = getattr(dataloader, '_iterator', None)
        if persistent is not None:
            iterators.append(persistent)
            dataloader._iterator = None  # a later pass (runner.val()) starts new workers
        # IterBasedTrainLoop's infinite iterator (possibly wrapped by ExactResumeHook)
        wrapped = getattr(loop, 'dataloader_iterator', None)
        for _ in range(4):
            if wrapped is None:
                break
            iterators.append(wrapped)
            wrapped = getattr(wrapped, '__dict__', {}).get('_iterator')
    for iterator in iterators:
        if isinstance(iterator, _MultiProcessingDataLoaderIter):
            iterator._shutdown_workers()


def preemption_exit_code(runner) -> int:
    """The exit status for ``tools/train.py`` after ``runner.train()``: the hook's
    ``exit_code`` when it stopped the run, else 0."""
    for hook in getattr(runner, 'hooks', ()):
        if isinstance(hook, PreemptionCheckpointHook) and hook.preempted:
            return hook.exit_code
    return 0
