"""DeepSpeed strategy whose checkpoints leave out only the frozen *pretrained* weights."""
import os.path as osp
from typing import Callable, Optional, Sequence, Union

import torch
from mmengine._strategy import DeepSpeedStrategy
from mmengine.logging import print_log

from desa2va_mm.registry import STRATEGIES
from desa2va_mm.utils.checkpoint_safety import (forced_weights_only_loads,
                                                mark_checkpoint_guard)
from desa2va_mm.utils.pretrained_sources import (check_frozen_weights_present,
                                                 deferred_source_check)
from desa2va_mm.utils.state_dict_check import check_state_dict

#: Key of the checkpoint's client state that holds the kept frozen weights.
KEPT_FROZEN_KEY = 'kept_frozen_state_dict'


def _register_deepspeed_safe_globals() -> None:
    """Allow the data classes DeepSpeed / MMEngine write into DeepSpeed checkpoint folders.

    DeepSpeed itself loads its files with ``weights_only=False``; this strategy forces
    ``weights_only=True`` (:func:`forced_weights_only_loads`), so the classes its files
    legitimately hold must be allow-listed: the ZeRO stage enum, the fp32 fragment
    address dataclass and the loss scaler (optimizer states), and MMEngine's
    ``ConfigDict`` (the optimizer wrapper's client state). All are plain data: an enum
    looked up by value, a dataclass and an object whose ``__dict__`` is restored.
    """
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address
    from mmengine.config.config import ConfigDict
    torch.serialization.add_safe_globals(
        [ZeroStageEnum, fragment_address, LossScaler, ConfigDict])


_register_deepspeed_safe_globals()


def _gathered(params):
    """ZeRO-3 partitions parameters; gather them for reading / writing (no-op otherwise)."""
    import deepspeed
    return deepspeed.zero.GatheredParameters(
        [p for p in params if hasattr(p, 'ds_id')], modifier_rank=0)


@STRATEGIES.register_module()
class TrainableDeepSpeedStrategy(DeepSpeedStrategy):
    """``DeepSpeedStrategy`` with the checkpoint rule of :class:`TrainableCheckpointHook`.

    DeepSpeed's own ``exclude_frozen_parameters`` drops *every* frozen parameter. In
    DeSa2VA's phases 2 and 3 the text decoder ``D_t`` and ``W_e`` are frozen but were
    trained in phase 1 and exist in no pretrained file, so that option would lose them;
    keeping all frozen parameters instead writes the whole InternVL base (2-16 GB) into
    every checkpoint. This strategy lets DeepSpeed exclude the frozen parameters and
    stores the frozen ones *outside* ``pretrained_prefixes`` in the checkpoint's client
    state (``kept_frozen_state_dict``); loading and resuming put them back, checked key
    by key and shape by shape. Every file DeepSpeed reads on the way is unpickled with
    ``weights_only=True`` (DeepSpeed itself passes ``False``): a checkpoint folder cannot
    run code.

    Frozen parameters under ``pretrained_prefixes`` (the MLLM and SAM-2) are not saved:
    the next run reads them from the config's ``pretrained`` paths, exactly as with
    ``TrainableCheckpointHook`` under DDP.

    Args:
        pretrained_prefixes: Parameter-name prefixes whose frozen weights come from
            pretrained files (default: the MLLM and the SAM-2 grounding encoder).
        exclude_frozen_parameters: Must stay True (the point of this class); kept as an
            argument so configs inheriting a DeepSpeed base stay valid.
        **kwargs: Everything ``DeepSpeedStrategy`` takes (``zero_optimization``, ``bf16``,
            ``gradient_clipping`` ...).
    """

    def __init__(self,
                 *,
                 pretrained_prefixes: Sequence[str] = ('mllm.', 'grounding_encoder.'),
                 exclude_frozen_parameters: bool = True,
                 **kwargs) -> None:
        if not exclude_frozen_parameters:
            raise ValueError('TrainableDeepSpeedStrategy exists to leave frozen pretrained '
                             'weights out of checkpoints; use DeepSpeedStrategy to keep all '
                             'frozen parameters')
        super().__init__(exclude_frozen_parameters=True, **kwargs)
        self.pretrained_prefixes = tuple(pretrained_prefixes)

    def prepare(self, model, *, optim_wrapper=None, param_scheduler=None, compile=False,
                dispatch_kwargs: Optional[dict] = None):
        """As ``DeepSpeedStrategy.prepare``; the micro-batch follows the train dataloader.

        ``FlexibleRunner.build_strategy`` copies the dataloader's batch size into the
        strategy only when the type is literally ``'DeepSpeedStrategy'``; the runner also
        passes it in ``dispatch_kwargs``, taken here, so a changed batch size cannot
        disagree with DeepSpeed's ``train_micro_batch_size_per_gpu``.
        """
        batch = (dispatch_kwargs or {}).get('train_micro_batch_size_per_gpu')
        if batch is not None:
            self.config['train_micro_batch_size_per_gpu'] = batch
        prepared = super().prepare(model, optim_wrapper=optim_wrapper,
                                   param_scheduler=param_scheduler, compile=compile,
                                   dispatch_kwargs=dispatch_kwargs)
        # This strategy's checkpoints leave out the frozen pretrained weights as
        # TrainableCheckpointHook's do: the model need not warn that the hook is absent.
        mark_checkpoint_guard(self.model, 'TrainableCheckpointHook')
        return prepared

    def _module(self) -> torch.nn.Module:
        # MMDeepSpeedEngineWrapper -> DeepSpeedEngine -> our model.
        return self.model.model.module

    def _kept_frozen_params(self) -> dict:
        """Frozen parameters that no pretrained file provides, by state-dict key."""
        from desa2va_mm.utils.pretrained_sources import sourced_prefixes
        module = self._module()
        # A prefix without a pretrained file (random-weight build) is kept as well.
        prefixes = sourced_prefixes(module, self.pretrained_prefixes)
        return {name: p for name, p in module.named_parameters()
                if not p.requires_grad and not (prefixes and name.startswith(prefixes))}

    def save_checkpoint(self,
                        filename: str,
                        *,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        extra_ckpt: Optional[dict] = None,
                        callback: Optional[Callable] = None) -> None:
        """Save as ``DeepSpeedStrategy`` does, plus the kept frozen weights."""
        extra_ckpt = dict(extra_ckpt or {})
        kept = self._kept_frozen_params()
        with _gathered(kept.values()):
            extra_ckpt[KEPT_FROZEN_KEY] = {name: p.detach().cpu().clone()
                                           for name, p in kept.items()}
        print_log(f'TrainableDeepSpeedStrategy: {len(kept)} frozen parameters outside '
                  f'{list(self.pretrained_prefixes)} kept in the checkpoint; frozen '
                  f'pretrained ones left out', logger='current')
        super().save_checkpoint(
            filename, save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler, extra_ckpt=extra_ckpt,
            callback=callback)

    def _restore_kept(self, extra_ckpt: dict, filename: str) -> dict:
        kept_state = extra_ckpt.pop(KEPT_FROZEN_KEY, None)
        # DeepSpeed left every frozen parameter out of its module state: those without a
        # pretrained file must come from the kept ones.
        check_frozen_weights_present(self._module(), set(kept_state or {}), filename)
        if kept_state is None:
            print_log(f'{filename} has no {KEPT_FROZEN_KEY} (not saved by '
                      'TrainableDeepSpeedStrategy): frozen parameters outside the pretrained '
                      'prefixes keep their current values', logger='current')
            return extra_ckpt
        own = {name: p for name, p in self._module().named_parameters()}
        # Every saved entry must land on a parameter of the same shape; parameters the
        # checkpoint lacks may be trainable now (DeepSpeed's module state holds them).
        check_state_dict({k: own[k] for k in kept_state if k in own}, kept_state,
                         source=f'{filename} ({KEPT_FROZEN_KEY})')
        params = [own[k] for k in kept_state]
        with _gathered(params), torch.no_grad():
            for name, value in kept_state.items():
                own[name].copy_(value.to(own[name].device, own[name].dtype))
        return extra_ckpt

    def load_checkpoint(self, filename: str, *, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False, revise_keys: list = [(r'^module.', '')],
                        callback: Optional[Callable] = None) -> dict:
        """``DeepSpeedStrategy.load_checkpoint``, then the kept frozen weights.

        ``filename`` may also be an ordinary checkpoint file (``.pth`` of a DDP / FSDP
        run, or of ``TrainableCheckpointHook``): DeepSpeed itself only reads its own
        folders, which made a DDP phase 1 followed by a DeepSpeed phase 2 fail. Such a
        file is loaded non-strictly (frozen pretrained weights may be absent), every
        shape checked, and DeepSpeed's fp32 master weights refreshed from the result.

        Under ZeRO-3 a weights-only load makes DeepSpeed rebuild the fp32 weights with
        ``get_fp32_state_dict_from_zero_checkpoint(folder)``, which finds the tag through a
        ``latest`` file that MMEngine never writes (it saves with ``save_latest=False``),
        so ``load_from`` of a ZeRO-3 checkpoint failed. The tag is passed explicitly here.
        """
        if osp.isfile(filename):  # a DDP / FSDP `.pth` (e.g. phase 1 run without DeepSpeed)
            return self._load_plain_checkpoint(filename, revise_keys)
        import deepspeed.runtime.engine as ds_engine
        rebuild = ds_engine.get_fp32_state_dict_from_zero_checkpoint
        tag = osp.basename(filename)

        def rebuild_with_tag(checkpoint_dir, tag_=None, *args, **kwargs):
            return rebuild(checkpoint_dir, tag_ if tag_ is not None else tag, *args, **kwargs)

        ds_engine.get_fp32_state_dict_from_zero_checkpoint = rebuild_with_tag
        try:
            with forced_weights_only_loads(), deferred_source_check(self._module()):
                # DeepSpeed loads with weights_only=False; frozen weights checked below.
                extra_ckpt = super().load_checkpoint(
                    filename, map_location=map_location, strict=strict,
                    revise_keys=revise_keys, callback=callback)
        finally:
            ds_engine.get_fp32_state_dict_from_zero_checkpoint = rebuild
        return self._restore_kept(extra_ckpt, filename)

    def _load_plain_checkpoint(self, filename: str, revise_keys: list) -> dict:
        import re

        from mmengine.runner.checkpoint import _load_checkpoint

        checkpoint = _load_checkpoint(filename, map_location='cpu')
        state = checkpoint.get('state_dict', checkpoint)
        for pattern, replacement in revise_keys:
            state = {re.sub(pattern, replacement, k): v for k, v in state.items()}
        module = self._module()
        shapes, per_module = {}, []
        for prefix, sub in module.named_modules():
            entries = []
            for name, tensor in list(sub.named_parameters(recurse=False)) + \
                    list(sub.named_buffers(recurse=False)):
                key = f'{prefix}.{name}' if prefix else name
                # ZeRO-3 parameters are partitioned: their full shape is ds_shape.
                shapes[key] = tuple(getattr(tensor, 'ds_shape', tensor.shape))
                if key in state:
                    entries.append((key, tensor))
            if entries:
                per_module.append((list(sub.parameters(recurse=False)), entries))
        missing, unexpected = check_state_dict(
            shapes, {k: tuple(v.shape) for k, v in state.items()}, source=filename,
            allowed_missing=[''], allowed_unexpected=[''])
        check_frozen_weights_present(module, set(state), filename)
        with torch.no_grad():
            for params, entries in per_module:  # one module's parameters gathered at a time
                with _gathered(params):
                    for key, tensor in entries:
                        tensor.copy_(state[key].to(tensor.device, tensor.dtype))
        optimizer = getattr(self.model.model, 'optimizer', None)
        if optimizer is not None and hasattr(optimizer, 'refresh_fp32_params'):
            optimizer.refresh_fp32_params()  # else the next step restores the old weights
        print_log(f'Loaded {filename} into the DeepSpeed model: {len(state) - len(unexpected)} '
                  f'entries; {len(missing)} model entries not in the file (kept as built, '
                  f'e.g. frozen pretrained weights); {len(unexpected)} file entries unused'
                  + (f': {unexpected[:10]}' if unexpected else ''), logger='current')
        return {k: v for k, v in checkpoint.items() if k != 'state_dict'}

    def resume(self, filename: str, *, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default',
               callback: Optional[Callable] = None) -> dict:
        """``DeepSpeedStrategy.resume``, then the kept frozen weights."""
        with forced_weights_only_loads(), deferred_source_check(self._module()):
            # DeepSpeed loads with weights_only=False; frozen weights checked below.
            extra_ckpt = super().resume(
                filename, resume_optimizer=resume_optimizer,
                resume_param_scheduler=resume_param_scheduler, map_location=map_location,
                callback=callback)
        return self._restore_kept(extra_ckpt, filename)
