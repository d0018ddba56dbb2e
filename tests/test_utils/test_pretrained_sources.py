"""Trainable-only checkpoints: kept only with pretrained sources, refused without them."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _model(pretrained=None):
    """Tiny Sa2VA with a frozen InternVL body and SAM-2 encoder, as at real size."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    cfg = copy.deepcopy(Config.fromfile(osp.join(REPO, 'configs/sa2va/sa2va_tiny.py')).model)
    cfg.mllm.update(freeze_vision=True, freeze_llm=True, pretrained=pretrained)
    if pretrained is not None:
        cfg.mllm.model_config = None
        cfg.mllm.tokenizer = dict(type='InternVLTokenizer', path=None)
    cfg.grounding_encoder.freeze_image_encoder = True
    torch.manual_seed(0)
    return MODELS.build(cfg)


class _Runner:
    def __init__(self, model):
        self.model = model


def _trainable_only(model):
    from desa2va_mm.engine.hooks import TrainableCheckpointHook
    checkpoint = dict(state_dict=model.state_dict(), meta={})
    TrainableCheckpointHook().before_save_checkpoint(_Runner(model), checkpoint)
    return checkpoint


def test_frozen_weights_without_a_source_stay_in_the_checkpoint():
    model = _model()
    checkpoint = _trainable_only(model)
    # Nothing names a pretrained file: every frozen weight is kept.
    assert set(checkpoint['state_dict']) == set(model.state_dict())
    assert checkpoint['meta']['trainable_only']['pretrained_prefixes'] == []


def test_trainable_only_checkpoint_needs_the_pretrained_folder(tmp_path):
    from mmengine.runner.checkpoint import load_checkpoint

    from desa2va_mm.utils.pretrained_sources import MissingPretrainedWeightsError
    source = _model()
    folder = str(tmp_path / 'internvl_hf')
    source.mllm.model.save_pretrained(folder)
    source.mllm.tokenizer.save_pretrained(folder)

    trained = _model(pretrained=folder)
    checkpoint = _trainable_only(trained)
    state = checkpoint['state_dict']
    frozen_mllm = [n for n, p in trained.named_parameters()
                   if n.startswith('mllm.') and not p.requires_grad]
    assert frozen_mllm and not any(n in state for n in frozen_mllm)
    assert checkpoint['meta']['trainable_only']['pretrained_prefixes'] == ['mllm.']
    # SAM-2 has no checkpoint here: its frozen encoder is kept.
    assert 'grounding_encoder.sam2.image_encoder.trunk.patch_embed.proj.weight' in state
    path = str(tmp_path / 'iter_1.pth')
    torch.save(checkpoint, path)

    # tools/test.py, load_from and the inferencer all go through MMEngine's loader.
    with pytest.raises(MissingPretrainedWeightsError) as err:
        load_checkpoint(_model(), path, map_location='cpu')
    msg = str(err.value)
    assert f'no weights for {len(frozen_mllm)} frozen parameters under \'mllm.\'' in msg
    assert '--cfg-options model.mllm.pretrained=' in msg
    # With the folder set, the frozen weights come from it and the rest from the file.
    with_folder = _model(pretrained=folder)
    load_checkpoint(with_folder, path, map_location='cpu')
    for name, value in trained.state_dict().items():
        assert torch.equal(with_folder.state_dict()[name], value), name


def test_full_checkpoint_loads_without_sources():
    model = _model()
    other = _model()
    torch.manual_seed(1)
    for p in other.parameters():
        p.data.normal_()
    model.load_state_dict(other.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 other.state_dict().values()))
