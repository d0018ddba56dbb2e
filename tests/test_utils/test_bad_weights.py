"""The bad-weights part of the bad-input corpus (``tests/data/make_bad_weights.py``).

Every way the InternVL / SAM-2 weights, the tokenizer or a trainable-only checkpoint can be
mis-set stops with an error that names the config key (or file) and how to fix it; the
table is mirrored in docs/reliability.md.
"""
import copy
import os.path as osp
import sys

import pytest
import torch

from conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'data'))
from make_bad_weights import build, make_bad_weights, tiny_model_cfg  # noqa: E402

sys.path.pop(0)


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    return make_bad_weights(str(tmp_path_factory.mktemp('bad_weights')))


def _with_mllm(paths, **mllm):
    cfg = tiny_model_cfg()
    cfg.mllm.update(mllm)
    return cfg


def _load(cfg, checkpoint):
    from mmengine.runner.checkpoint import load_checkpoint
    load_checkpoint(build(cfg), checkpoint, map_location='cpu')


def _pipeline_check(paths, **step):
    from desa2va_mm.datasets.transforms.tokenize_conversation import (TokenizeConversation,
                                                                      adopt_model_tokenizer)
    model = build(tiny_model_cfg())
    transform = TokenizeConversation(num_image_tokens_per_tile=16, **step)
    adopt_model_tokenizer(transform, model.mllm.tokenizer, model.mllm.chat_template,
                          'val_dataloader.dataset')


def _sam2_other_config(paths):
    cfg = tiny_model_cfg()
    cfg.grounding_encoder.checkpoint = paths['sam2_tiny']
    cfg.grounding_encoder.overrides = copy.deepcopy(cfg.grounding_encoder.overrides)
    cfg.grounding_encoder.overrides['num_maskmem'] = 4  # another memory length
    build(cfg)


#: case -> (action, exception, what the message must say)
CASES = {
    'internvl_original_layout': (
        lambda p: build(_with_mllm(p, pretrained=p['internvl_original'], model_config=None)),
        ValueError, r'(?s)original-layout InternVL folder .*internvl_to_hf\.py .*internvl_original '
                    r'.*internvl_original-hf'),
    'internvl_no_config_json': (
        lambda p: build(_with_mllm(p, pretrained=p['no_config'], model_config=None)),
        FileNotFoundError, r"model.mllm.pretrained='.*no_config' has no config.json"),
    'internvl_path_is_a_file': (
        lambda p: build(_with_mllm(p, pretrained=p['weights_file'], model_config=None)),
        FileNotFoundError, r"model.mllm.pretrained='.*weights_file.bin' is not a folder"),
    'internvl_with_stand_in_tokenizer': (
        lambda p: build(_with_mllm(p, pretrained=p['internvl_hf'], model_config=None)),
        ValueError, r'offline stand-in tokenizer TinyWordTokenizer'),
    'tokenizer_with_tokens_the_weights_lack': (
        lambda p: build(_with_mllm(p, pretrained=p['internvl_hf'], model_config=None,
                                   tokenizer=dict(type='InternVLTokenizer',
                                                  path=p['tokenizer_extra']))),
        ValueError, r"disagree: 2 token\(s\) have ids beyond .*<extra_token_a>"),
    'tokenizer_image_token_id_mismatch': (
        lambda p: build(_with_mllm(p, pretrained=p['internvl_hf_img_id'], model_config=None,
                                   tokenizer=dict(type='InternVLTokenizer',
                                                  path=p['internvl_hf']))),
        ValueError, r'maps <IMG_CONTEXT> to \d+, the weights .* expect image_token_id=3'),
    'model_config_contradicts_folder': (
        lambda p: build(_with_mllm(
            p, pretrained=p['internvl_hf'],
            tokenizer=dict(type='InternVLTokenizer', path=None),
            model_config=dict(text_config=dict(num_hidden_layers=24, hidden_size=896)))),
        ValueError, r'(?s)text_config.num_hidden_layers: config 24, folder 2.*'
                    r'model.mllm.model_config=None'),
    'trainable_only_without_internvl': (
        lambda p: _load(tiny_model_cfg(sam2=p['sam2_tiny']), p['trainable_only']),
        RuntimeError, r"frozen parameters under 'mllm.' .*--cfg-options model.mllm.pretrained="),
    'trainable_only_without_sam2': (
        lambda p: _load(tiny_model_cfg(internvl=p['internvl_hf']), p['trainable_only']),
        RuntimeError, r"under 'grounding_encoder.' .*model.grounding_encoder.checkpoint="),
    'pipeline_tokenizer_differs_from_model': (
        lambda p: _pipeline_check(p, tokenizer=dict(type='TinyWordTokenizer',
                                                    vocabulary='synthetic_mevis')),
        ValueError, r"val_dataloader.dataset: the pipeline's tokenizer .* disagree"),
    'pipeline_template_differs_from_model': (
        lambda p: _pipeline_check(p, template='internlm2'),
        ValueError, r"val_dataloader.dataset: .*chat template 'internlm2', the model 'qwen2'"),
    'sam2_checkpoint_of_another_config': (
        _sam2_other_config, RuntimeError,
        r'(?s)SAM-2 checkpoint .*sam2_tiny.pt does not match config .*shape mismatches: \[.maskmem_tpos_enc'),
    'sam2_checkpoint_missing': (
        lambda p: build(tiny_model_cfg(sam2=p['sam2_tiny'] + '.missing')),
        FileNotFoundError, r"checkpoint '.*sam2_tiny.pt.missing' does not exist"),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_weights_fail_loudly(weights, case):
    action, error, message = CASES[case]
    with pytest.raises(error, match=message):
        action(weights)


def test_the_good_setting_loads(weights):
    """Control: the trainable-only checkpoint with both sources set restores the run."""
    from mmengine.runner.checkpoint import load_checkpoint
    model = build(tiny_model_cfg(internvl=weights['internvl_hf'], sam2=weights['sam2_tiny']))
    state = torch.load(weights['trainable_only'], weights_only=True)['state_dict']
    load_checkpoint(model, weights['trainable_only'], map_location='cpu')
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items())
