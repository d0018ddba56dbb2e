"""Save and restore the random-number state so that ``--resume`` continues exactly."""
import itertools
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from desa2va_mm.registry import HOOKS
from desa2va_mm.utils.checkpoint_safety import mark_checkpoint_guard

#: Key of the RNG states in the checkpoint dict.
RNG_STATE_KEY = 'rng_state'


def get_rng_state() -> dict:
    """The RNG states of Python, NumPy and torch (CPU and every CUDA device).

    Everything is a tensor, int, float, str or tuple, so the checkpoint still loads with
    ``torch.load(weights_only=True)`` and our allow-list (a NumPy ``uint32`` array would
    need another global).
    """
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=(version, tuple(internal), gauss),
        numpy=dict(
            bit_generator=np_state['bit_generator'],
            key=torch.from_numpy(np_state['state']['key'].astype(np.int64)),
            pos=int(np_state['state']['pos']),
            has_gauss=int(np_state['has_gauss']),
            gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np_state = state['numpy']
    np.random.set_state(dict(
        bit_generator=np_state['bit_generator'],
        state=dict(key=np_state['key'].numpy().astype(np.uint32), pos=np_state['pos']),
        has_gauss=np_state['has_gauss'],
        gauss=np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreBeforeBatch:
    """Wraps the train loop's data iterator; restores ``state`` right before batch
    number ``skip`` (0-based) is fetched, i.e. after MMEngine's resume fast-forward.

    With ``fake_skip`` the first ``skip`` calls return None without loading anything
    (the sampler was already advanced past those batches).
    """

    def __init__(self, iterator, skip: int, state: Optional[dict],
                 fake_skip: bool = False) -> None:
        self._iterator = iterator
        self._remaining = skip
        self._state = state
        self._fake_skip = fake_skip

    def __iter__(self):
        return self

    def __next__(self):
        if self._remaining > 0 and self._fake_skip:
            self._remaining -= 1
            return None  # MMEngine's skip loop discards it
        if self._remaining <= 0 and self._state is not None:
            set_rng_state(self._state)
            self._state = None
        self._remaining -= 1
        return next(self._iterator)

    def __getattr__(self, name):  # _dataloader, _epoch ... of the wrapped iterator
        return getattr(self._iterator, name)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make a resumed run continue bit-exactly where the interrupted one stopped.

    MMEngine's resume restores weights, optimizer, schedulers, message hub and the
    iteration, and re-creates the data order by re-seeding the sampler and
    fast-forwarding the data iterator over the batches already trained (the pipeline
    runs again for them, in the same worker processes, so worker RNG streams line up).
    It does not restore the main process's RNG states, which dropout, random sampling
    in the model and (with ``num_workers=0``) the data transforms consume. This hook

    * writes the Python / NumPy / torch (and CUDA) RNG states into every checkpoint
      (``checkpoint['rng_state']``) together with the train sampler's seed;
    * on ``--resume`` restores them right after the fast-forward, before the first new
      batch is fetched, i.e. at the point where the checkpoint was written;
    * keeps validation from consuming training randomness (states saved before and
      restored after each validation), so a run is the same whatever ``val_interval``
      is, and resuming after a checkpoint at a validation iteration stays exact.

    ``fast_forward=True`` skips the already-trained batches at the sampler instead (an
    ``InfiniteSampler``'s index stream is advanced by ``iter x batch_size``): resuming at
    iteration 50k no longer loads 50k batches first. The data order is the same and, with
    ``num_workers=0``, the run is still bit-exact (the pipeline's randomness comes from the
    restored main-process RNG); with worker processes, random augmentations inside the
    workers start from fresh worker seeds and differ from the interrupted run (a warning
    says so).

    Exactness needs a fixed seed (``randomness=dict(seed=...)``, set by our configs):
    the train dataloader (sampler, worker seeds) is built before the checkpoint is read.
    In distributed runs only rank 0 writes checkpoints, so rank 0's states are restored
    on every rank (exact with the default ``diff_rank_seed=False``, where all ranks
    share them).

    Args:
        fast_forward: Skip the trained batches at the sampler instead of loading them
            (see above). Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, fast_forward: bool = False) -> None:
        self.fast_forward = fast_forward
        self._resumed = False
        self._resume_state: Optional[dict] = None
        self._val_state: Optional[dict] = None

    def before_run(self, runner) -> None:
        # The model warns at its first training step when a runner lacks this hook.
        mark_checkpoint_guard(runner.model, 'ExactResumeHook')

    @staticmethod
    def _sampler_seed(runner) -> Optional[int]:
        loop = getattr(runner, '_train_loop', None)
        dataloader = getattr(loop, 'dataloader', None)
        return getattr(getattr(dataloader, 'sampler', None), 'seed', None)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = get_rng_state()
        seed = self._sampler_seed(runner)
        if seed is not None:
            state['sampler_seed'] = int(seed)
        checkpoint[RNG_STATE_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # load_from (weights only) also calls this hook: restore only on resume.
        if not getattr(runner, '_resume', False):
            return
        self._resumed = True
        state = checkpoint.get(RNG_STATE_KEY)
        if state is None:
            print_log('ExactResumeHook: the checkpoint has no RNG state (written without '
                      'this hook); resuming with freshly seeded RNGs.',
                      logger='current', level=30)
            return
        saved_seed = state.get('sampler_seed')
        seed = self._sampler_seed(runner)
        if saved_seed is not None and seed is not None and saved_seed != seed:
            print_log(f'ExactResumeHook: the train sampler was seeded with {seed}, the '
                      f'interrupted run used {saved_seed}: the data order will differ. '
                      'Set randomness=dict(seed=...) for an exact resume.',
                      logger='current', level=30)
        self._resume_state = state

    def before_train(self, runner) -> None:
        if not self._resumed:
            return
        self._resumed = False
        loop = runner.train_loop
        if not hasattr(loop, 'dataloader_iterator'):
            # an epoch-based loop re-creates its iterator; restore now
            if self._resume_state is not None:
                set_rng_state(self._resume_state)
            self._resume_state = None
            return
        fake_skip = self.fast_forward and loop.iter > 0 and self._advance_sampler(runner)
        loop.dataloader_iterator = _RestoreBeforeBatch(
            loop.dataloader_iterator, skip=loop.iter, state=self._resume_state,
            fake_skip=fake_skip)
        self._resume_state = None

    @staticmethod
    def _advance_sampler(runner) -> bool:
        """Start the train sampler ``iter x batch_size`` indices later; False if the
        sampler is not an ``InfiniteSampler``-like index stream."""
        from mmengine.runner.loops import _InfiniteDataloaderIterator
        loop = runner.train_loop
        dataloader = loop.dataloader
        sampler = getattr(dataloader, 'sampler', None)
        batch_size = getattr(getattr(dataloader, 'batch_sampler', None), 'batch_size', None)
        if not hasattr(sampler, '_indices_of_rank') or not hasattr(sampler, 'indices') \
                or not batch_size:
            print_log('ExactResumeHook: fast_forward needs an InfiniteSampler and a batch '
                      f'size, got {type(sampler).__name__}; MMEngine will load the '
                      'skipped batches instead', logger='current', level=30)
            return False
        skip = loop.iter * batch_size
        sampler.indices = itertools.islice(sampler._indices_of_rank(), skip, None)
        # The iterator built with the loop may have prefetched from the old stream.
        loop.dataloader_iterator = _InfiniteDataloaderIterator(dataloader)
        if getattr(dataloader, 'num_workers', 0) > 0:
            print_log('ExactResumeHook: fast_forward with dataloader workers keeps the data '
                      'order, but random transforms in the workers differ from the '
                      'interrupted run (their RNG restarts); use num_workers=0 or '
                      'fast_forward=False for a bit-exact resume', logger='current', level=30)
        print_log(f'ExactResumeHook: advanced the train sampler by {loop.iter} batches '
                  f'({skip} indices per rank) without loading them', logger='current')
        return True

    def before_val(self, runner) -> None:
        self._val_state = get_rng_state()

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None
