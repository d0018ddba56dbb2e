"""Save checkpoints without the frozen weights that come from the pretrained files."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from desa2va_mm.registry import HOOKS
from desa2va_mm.utils.checkpoint_safety import mark_checkpoint_guard
from desa2va_mm.utils.pretrained_sources import sourced_prefixes


_WRAPPER_SEGMENTS = ('_fsdp_wrapped_module.', '_checkpoint_wrapped_module.', '_orig_mod.')


def _clean_name(name: str) -> str:
    """A parameter name without FSDP / checkpoint-wrapper / compile segments."""
    for segment in _WRAPPER_SEGMENTS:
        name = name.replace(segment, '')
    return name


@HOOKS.register_module()
class TrainableCheckpointHook(Hook):
    """Drop frozen pretrained weights from every checkpoint the runner saves.

    A real-size DeSa2VA holds ~1-8 B frozen parameters (the InternVL base, the SAM-2
    image encoder / prompt encoder / memory) that the next run reads from ``pretrained``
    and the SAM-2 ``checkpoint`` anyway; saving them makes each checkpoint 4-30 GB. This
    hook removes, before saving, every state-dict entry under ``pretrained_prefixes``
    that is not a trainable parameter. Everything else is kept, including frozen modules
    that were *trained earlier* (phase 1's text head and ``W_e`` stay frozen in phases 2
    and 3 but exist in no pretrained file).

    A prefix whose pretrained file the model does not name (``model.pretrained_sources()``:
    ``model.mllm.pretrained`` / ``model.grounding_encoder.checkpoint`` left None, a
    random-weight build) keeps its frozen weights: no file could restore them.

    Loading such a checkpoint (``load_from`` / ``--resume`` / ``tools/test.py``) takes the
    frozen weights from the model's pretrained paths, so the config must point at the same
    files as the run that saved it; a model without them refuses the checkpoint with an
    error naming the key to set (``desa2va_mm/utils/pretrained_sources.py``). What was left
    out is recorded in ``checkpoint['meta']['trainable_only']``.

    Args:
        pretrained_prefixes: State-dict prefixes whose frozen entries come from
            pretrained files (default: the MLLM and the SAM-2 grounding encoder).
    """

    priority = 'LOW'

    def __init__(self, pretrained_prefixes: Sequence[str] = ('mllm.', 'grounding_encoder.')
                 ) -> None:
        self.pretrained_prefixes = tuple(pretrained_prefixes)

    def before_run(self, runner) -> None:
        # The model warns at its first training step when a runner lacks this hook.
        mark_checkpoint_guard(runner.model, 'TrainableCheckpointHook')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        # Under FSDP the inner module's nested units name their parameters
        # `..._fsdp_wrapped_module.layer...` (activation checkpointing and torch.compile
        # add their own segments) while the saved state dict uses the clean names; without
        # cleaning, the trainable LoRA / layer weights of wrapped layers were dropped.
        trainable = {_clean_name(name) for name, p in model.named_parameters()
                     if p.requires_grad}
        state = checkpoint.get('state_dict')
        if state is None:
            return
        prefixes = sourced_prefixes(model, self.pretrained_prefixes)
        dropped = [k for k in state if prefixes and k.startswith(prefixes)
                   and k not in trainable]
        for key in dropped:
            del state[key]
        checkpoint.setdefault('meta', {})['trainable_only'] = dict(
            pretrained_prefixes=list(prefixes), num_dropped=len(dropped))
        print_log(f'TrainableCheckpointHook: saved {len(state)} entries, left out '
                  f'{len(dropped)} frozen pretrained ones', logger='current')
