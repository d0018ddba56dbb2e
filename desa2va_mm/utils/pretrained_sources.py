"""Which frozen weights come from a pretrained file, and refusing checkpoints without them.

Real-size checkpoints hold only what trained (``TrainableCheckpointHook``,
``TrainableDeepSpeedStrategy``): the frozen InternVL and SAM-2 weights come from the files
named by ``model.mllm.pretrained`` and ``model.grounding_encoder.checkpoint``. A model
declares those sources with ``pretrained_sources()`` (state-dict prefix -> (path or None,
config key)); from it:

* checkpoints leave out the frozen weights of a prefix only when its source is set (a
  random-weight build keeps them: nothing else could restore them);
* loading a checkpoint that lacks the frozen weights of a prefix whose source is *not*
  set is an error naming the key to set, in every path that loads a state dict
  (``tools/test.py``, ``load_from``, ``--resume``, the inferencer, DeepSpeed folders):
  otherwise the model would run on random frozen weights with only MMEngine's
  missing-keys warning as a hint.
"""
from contextlib import contextmanager
from typing import Container, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import torch

__all__ = ['MissingPretrainedWeightsError', 'sourced_prefixes', 'check_frozen_weights_present',
           'deferred_source_check', 'raise_on_frozen_weights_without_source']


class MissingPretrainedWeightsError(RuntimeError):
    """A checkpoint lacks frozen weights that no pretrained file of the config provides."""


def _sources(model: torch.nn.Module) -> Optional[Dict[str, Tuple[Optional[str], str]]]:
    get = getattr(model, 'pretrained_sources', None)
    return get() if callable(get) else None


def sourced_prefixes(model: torch.nn.Module, prefixes: Sequence[str]) -> Tuple[str, ...]:
    """The ``prefixes`` whose frozen weights a pretrained file of ``model`` provides.

    A model without ``pretrained_sources`` keeps every prefix (the caller's rule).
    """
    sources = _sources(model)
    if sources is None:
        return tuple(prefixes)
    return tuple(p for p in prefixes if p not in sources or sources[p][0] is not None)


def check_frozen_weights_present(module: torch.nn.Module, present: Container[str],
                                 source: str = 'the checkpoint') -> None:
    """Raise unless every frozen parameter of a prefix without a pretrained file is in
    ``present`` (state-dict keys, without any wrapper prefix).

    Args:
        module: A model with ``pretrained_sources()``.
        present: The keys a checkpoint provides for it.
        source: The checkpoint, for the message.

    Raises:
        MissingPretrainedWeightsError: naming the config key that provides them.
    """
    sources = _sources(module)
    if not sources:
        return
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    for src_prefix, (path, key) in sources.items():
        if path is not None:
            continue
        missing = [n for n in frozen if n.startswith(src_prefix) and n not in present]
        if not missing:
            continue
        raise MissingPretrainedWeightsError(
            f'{source} has no weights for {len(missing)} frozen parameters under '
            f'{src_prefix!r} (e.g. {missing[0]}): it holds only what trained, and the frozen '
            f'weights come from {key}, which is not set in this config. The model would '
            f'run on random weights. Set --cfg-options {key}=<the file or folder the '
            f'checkpoint was trained with> (docs/real_weights.md).')


@contextmanager
def deferred_source_check(module: torch.nn.Module) -> Iterator[None]:
    """Suspend the pre-hook below while a loader that restores frozen weights in several
    steps (DeepSpeed folders) runs; the loader calls :func:`check_frozen_weights_present`
    itself afterwards."""
    previous = getattr(module, '_defer_frozen_source_check', False)
    module._defer_frozen_source_check = True
    try:
        yield
    finally:
        module._defer_frozen_source_check = previous


def raise_on_frozen_weights_without_source(module: torch.nn.Module,
                                           state_dict: Mapping[str, torch.Tensor],
                                           prefix: str, *args, **kwargs) -> None:
    """``load_state_dict`` pre-hook: refuse a checkpoint that lacks frozen weights which no
    pretrained file of the config provides.

    Register with ``model.register_load_state_dict_pre_hook(...)`` on a model that defines
    ``pretrained_sources()``.
    """
    if getattr(module, '_defer_frozen_source_check', False):
        return
    present = {k[len(prefix):] for k in state_dict if k.startswith(prefix)}
    check_frozen_weights_present(module, present)
