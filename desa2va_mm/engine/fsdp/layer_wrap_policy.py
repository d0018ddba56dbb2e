"""FSDP auto-wrap policy: shard per transformer layer / mask head, never SAM2Base as a unit.

A size-based policy would make ``SAM2Base`` (224 M parameters) an FSDP unit, but
``SAM2Base.forward`` is never called: the model calls its components (prompt encoder,
``_prepare_backbone_features``, ``no_mem_embed``) and a head calls its decoder's
``conv_s0`` / ``conv_s1`` directly. Parameters of a unit whose ``forward`` does not run
stay sharded (flat 1-D views) and those calls fail. Wrapping by layer class keeps every
unit's parameters used inside that unit's own ``forward``.
"""
from typing import Iterable

import torch.nn as nn

#: Classes that become FSDP units: LLM decoder layers (Qwen2 / Llama-hosted InternLM2),
#: InternViT layers, Hiera blocks of the SAM-2 image encoder, our mask heads.
DEFAULT_WRAP_CLASSES = ('Qwen2DecoderLayer', 'LlamaDecoderLayer', 'InternVLVisionLayer',
                        'MultiScaleBlock', 'SAM2MaskHead', 'SAM2TextHead', 'SAM2VisualHead')


def layer_wrap_policy(module: nn.Module, recurse: bool, nonwrapped_numel: int,
                      layer_names: Iterable[str] = DEFAULT_WRAP_CLASSES) -> bool:
    """``auto_wrap_policy`` for ``FullyShardedDataParallel``.

    Args:
        module: Candidate module.
        recurse: FSDP asks whether to descend into ``module``'s children (always yes).
        nonwrapped_numel: Parameters not yet wrapped below ``module`` (unused).
        layer_names: Class names that become their own FSDP unit.

    Returns:
        Whether to descend (``recurse``) or to wrap ``module``.
    """
    if recurse:
        return True
    return type(module).__name__ in set(layer_names)
