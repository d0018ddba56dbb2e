"""TrainableCheckpointHook: frozen pretrained weights are left out, nothing else is."""
import os.path as osp
from types import SimpleNamespace

import torch

from conftest import REPO_ROOT


def test_drops_only_frozen_pretrained_entries():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.engine.hooks import TrainableCheckpointHook
    from desa2va_mm.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_decouple.py'))
    # As in the real configs: vision tower and LLM body frozen (LoRA trains), SAM-2 encoder
    # frozen; phase 2 also freezes the phase-1 text head and W_e.
    cfg.model.mllm.update(freeze_vision=True, freeze_llm=True,
                          lora=dict(r=4, lora_alpha=8, lora_dropout=0.0))
    cfg.model.grounding_encoder.freeze_image_encoder = True
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    # As if built from the pretrained files (what real-size runs name): only then are
    # frozen weights left out (a random-weight build keeps them; test_pretrained_sources).
    model.mllm.pretrained = 'pretrained/InternVL2_5-1B-hf'
    model.grounding_encoder.checkpoint = 'pretrained/sam2_hiera_large.pt'
    state = model.state_dict()
    checkpoint = {'state_dict': dict(state), 'meta': {}}
    TrainableCheckpointHook().before_save_checkpoint(SimpleNamespace(model=model), checkpoint)
    saved = checkpoint['state_dict']

    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    for key in state:
        frozen_pretrained = key.startswith(('mllm.', 'grounding_encoder.')) and \
            key not in trainable
        assert (key in saved) != frozen_pretrained, key
    # Trainable MLLM parts stay: LoRA, token embeddings / LM head, projector.
    assert any('lora_A' in k for k in saved)
    assert 'mllm.model.lm_head.weight' in saved
    # Frozen in phase 2 but trained in phase 1 (no pretrained file has them): kept.
    assert any(k.startswith('seg_head.text_head.') for k in saved)
    assert 'seg_head.neck.anchor_proj.weight' in saved
    # Frozen pretrained: left out.
    assert not any(k.startswith('grounding_encoder.sam2.image_encoder.') for k in saved)
    assert not any('vision_tower' in k for k in saved)
    meta = checkpoint['meta']['trainable_only']
    assert meta['num_dropped'] == len(state) - len(saved) > 0
    # A checkpoint of trainable weights is much smaller than the model.
    # (Module extra state, such as CLUB's estimator optimizer, is a dict, not a tensor.)
    numel = lambda sd: sum(v.numel() for v in sd.values()  # noqa: E731
                           if isinstance(v, torch.Tensor))
    assert numel(saved) < numel(state)
    assert isinstance(next(iter(saved.values())), torch.Tensor)


def test_fsdp_wrapped_names_keep_their_trainable_entries():
    # Under FSDP the runner's inner module names nested units' parameters
    # `layers.0._fsdp_wrapped_module.weight`, while the saved state dict is clean
    # (`layers.0.weight`). Those trainable entries must stay in the checkpoint.
    from torch import nn

    from desa2va_mm.engine.hooks import TrainableCheckpointHook

    class Unit(nn.Module):  # stands in for an FSDP / checkpoint wrapper
        def __init__(self, inner):
            super().__init__()
            self._fsdp_wrapped_module = inner

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.mllm = nn.ModuleList([Unit(nn.Linear(2, 2)), nn.Linear(2, 2)])
            self.mllm[1].requires_grad_(False)

    model = Model()
    clean_state = {'mllm.0.weight': 0, 'mllm.0.bias': 0, 'mllm.1.weight': 0, 'mllm.1.bias': 0}
    checkpoint = {'state_dict': dict(clean_state), 'meta': {}}
    TrainableCheckpointHook().before_save_checkpoint(SimpleNamespace(model=model), checkpoint)
    assert sorted(checkpoint['state_dict']) == ['mllm.0.bias', 'mllm.0.weight']
