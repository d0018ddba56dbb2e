"""ModelTokenizerHook: pipelines take the model's tokenizer / template, or fail loudly."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import load_tiny_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TINY = dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco')


def _scope():
    import desa2va_mm  # noqa: F401
    init_default_scope('desa2va_mm')


def test_tokenize_conversation_without_tokenizer_says_where_it_comes_from():
    _scope()
    from desa2va_mm.datasets.transforms import TokenizeConversation
    step = TokenizeConversation(num_image_tokens_per_tile=4)
    with pytest.raises(RuntimeError, match='ModelTokenizerHook'):
        step(dict(conversation=[dict(user='hi', assistant='yo')], text=[]))


def test_adopt_gives_and_checks():
    _scope()
    from desa2va_mm.datasets.transforms.tokenize_conversation import (TokenizeConversation,
                                                                      adopt_model_tokenizer)
    from desa2va_mm.registry import TOKENIZERS
    model_tok = TOKENIZERS.build(TINY)
    step = TokenizeConversation(num_image_tokens_per_tile=4)
    assert adopt_model_tokenizer(step, model_tok, 'qwen2', 'here') == 1
    out = step(dict(conversation=[dict(user='the red circle', assistant='[SEG]')], text=[]))
    assert model_tok.convert_tokens_to_ids('[SEG]') in out['input_ids'][0].tolist()
    # A pipeline naming the same tokenizer passes; another vocabulary or template fails.
    same = TokenizeConversation(TINY, template='qwen2', num_image_tokens_per_tile=4)
    assert adopt_model_tokenizer(same, model_tok, 'qwen2', 'here') == 0
    other = TokenizeConversation(dict(type='TinyWordTokenizer', vocabulary='synthetic_mevis'),
                                 num_image_tokens_per_tile=4)
    with pytest.raises(ValueError, match=r"train_dataloader.dataset.datasets\[1\].*"
                                         r"tokenizer .* and the model's .* disagree"):
        adopt_model_tokenizer(other, model_tok, 'qwen2',
                              'train_dataloader.dataset.datasets[1]')
    wrong_template = TokenizeConversation(TINY, template='internlm2',
                                          num_image_tokens_per_tile=4)
    with pytest.raises(ValueError, match=r"chat template 'internlm2', the model 'qwen2'"):
        adopt_model_tokenizer(wrong_template, model_tok, 'qwen2', 'here')


def test_walks_the_sa2va_mix_structure(synthetic_refcoco):
    """ConcatDataset of RepeatDatasets and plain datasets: every pipeline is found."""
    _scope()
    from desa2va_mm.engine.hooks.model_tokenizer_hook import share_with_dataset
    from desa2va_mm.registry import DATASETS, MODELS
    cfg = load_tiny_cfg(synthetic_refcoco)
    train = copy.deepcopy(cfg.train_dataloader.dataset)
    for step in train.pipeline:
        if step['type'] == 'TokenizeConversation':
            step.update(tokenizer=None, template=None)
    mix = DATASETS.build(dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=train), train]))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert share_with_dataset(mix, model.mllm.tokenizer, model.mllm.chat_template,
                              'train_dataloader.dataset') == 2
    sample = mix[0]['data_samples']
    assert model.mllm.seg_token_id in sample.input_ids[0].tolist()


@pytest.mark.slow
def test_runner_hands_the_tokenizer_to_iteration_based_workers(synthetic_refcoco, tmp_path):
    """Real runner, iteration-based loop, persistent worker: its workers were forked before
    any hook ran, yet they tokenise with the model's tokenizer."""
    _scope()
    from mmengine.runner import Runner
    cfg = load_tiny_cfg(synthetic_refcoco)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for step in cfg[key].dataset.pipeline:
            if step['type'] == 'TokenizeConversation':
                step.update(tokenizer=None, template=None)
    cfg.train_dataloader.update(num_workers=1, persistent_workers=True, batch_size=2)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
    cfg.val_cfg = cfg.val_evaluator = cfg.val_dataloader = None
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.param_scheduler = []
    cfg.load_from = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss_mask').data[0]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(v)) for v in losses)
