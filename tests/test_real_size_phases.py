"""Real-size phase configs (built on the meta device): exact trainable / frozen sets."""
import os.path as osp

import pytest

from conftest import REPO_ROOT


def _trainable_groups(config):
    from mmengine.config import Config

    from tools.analysis_tools.param_count import build_on_meta, component_of
    model = build_on_meta(Config.fromfile(osp.join(REPO_ROOT, 'configs', config)))
    groups = {}
    for name, param in model.named_parameters():
        key = component_of(name)
        if key == 'seg_head.neck':
            key = 'seg_head.neck.' + name.split('.')[2]
        if key == 'mllm.language_model' and 'embed_tokens' in name:
            key = 'mllm.embed_tokens'
        groups.setdefault(key, set()).add(param.requires_grad)
    return groups


FROZEN_BACKBONE = ('mllm.vision_tower', 'mllm.language_model', 'sam2.image_encoder',
                   'sam2.prompt_encoder', 'sam2.mask_decoder', 'sam2.memory_and_rest')


@pytest.mark.parametrize('config,trainable', [
    # docs/method.md §11, phase 1: only W_e and D_t.
    ('desa2va/desa2va_1b_pretrain.py', {'seg_head.neck.anchor_proj', 'seg_head.text_head'}),
    # Phase 2 (phase 3 trains the same set): D_t and W_e frozen.
    ('desa2va/desa2va_1b_decouple.py', {'mllm.projector', 'mllm.language_model.lora', 'mllm.lm_head',
                                'mllm.embed_tokens', 'seg_head.neck.text_proj',
                                'seg_head.neck.visual_proj', 'seg_head.visual_head',
                                'seg_head.fusion', 'seg_head.adversarial_loss'}),
    # (CLUB's q has no parameters: its own optimizer trains it, docs/method.md §9.)
    # Sa2VA (§4): LoRA, projector, embeddings / LM head, SAM-2 decoder, text_hidden_fcs.
    ('sa2va/sa2va_1b.py', {'mllm.projector', 'mllm.language_model.lora', 'mllm.lm_head',
                     'mllm.embed_tokens', 'seg_head.mask_head', 'seg_head.text_hidden_fcs'}),
])
def test_phase_trains_exactly_its_set(config, trainable):
    groups = _trainable_groups(config)
    for group, flags in groups.items():
        assert len(flags) == 1, f'{config}: {group} is partly trainable'
    assert {g for g, flags in groups.items() if flags == {True}} == trainable, config
    assert all(groups[g] == {False} for g in FROZEN_BACKBONE)
