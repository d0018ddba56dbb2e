"""Every kind of batch the Sa2VA mix can produce trains through every phase and both models.

Pure image QA, pure video QA (frames as tiles, no masks), referring images, referring
videos and a mix of all four, through DeSa2VA phases 1 (``pretrain``), 2 (``decouple``,
adversarial + CLUB on) and 3 (``fusion``, re-prompting in training) and the Sa2VA
baseline: finite losses, a backward pass, gradients where they belong, and zero mask
losses when a batch has nothing to segment.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TOKENIZER = dict(type='TinyWordTokenizer', vocabulary='synthetic_mevis')
KINDS = ('image_qa', 'video_qa', 'referring', 'video', 'mixed')
MODELS_UNDER_TEST = ('sa2va', 'pretrain', 'decouple', 'fusion')


def _model(name: str):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    base = 'sa2va_tiny.py' if name == 'sa2va' else 'desa2va_tiny_video.py'
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models', base)).model
    cfg.mllm.tokenizer = TOKENIZER
    cfg.data_preprocessor = dict(type='VideoReferringDataPreprocessor')
    cfg.video_train = dict(mode='per_frame')  # Sa2VA's (what the real-size configs use)
    if name != 'sa2va':
        cfg.train_phase = name
        cfg.train_cfg.reprompt_iters = 1 if name == 'fusion' else 0
        if name == 'pretrain':
            cfg.frozen_modules = ['mllm'] + [f'seg_head.{m}' for m in (
                'neck.text_proj', 'neck.visual_proj', 'visual_head', 'fusion',
                'adversarial_loss', 'club_loss')]
        else:
            cfg.frozen_modules = ['seg_head.text_head', 'seg_head.neck.anchor_proj']
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    return model


def _tokenize():
    from desa2va_mm.datasets.transforms import TokenizeConversation
    return TokenizeConversation(TOKENIZER, template='qwen2', num_image_tokens_per_tile=16,
                                max_length=512)


def _image(seed: int, h: int = 64, w: int = 80) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _qa_sample(num_frames: int, seed: int):
    """An LLaVA-style sample: an image (1 tile + thumbnail) or, with ``num_frames``, a
    video read as LoadQAVideoFrames reads it (one tile per frame)."""
    from desa2va_mm.datasets.transforms import (InternVLTiling, LoadQAVideoFrames,
                                                LoadReferringMasks, PackReferringInputs)
    from mmdet.datasets.transforms import Resize

    class InMemoryFrames(LoadQAVideoFrames):
        def _read(self, path):
            return [_image(seed * 10 + i) for i in range(num_frames)]

    results = dict(img_path=f'qa{seed}', img_id=seed, video_path=f'qa{seed}.mp4',
                   conversation=[dict(user='<image>\nwhat is the shape ?',
                                      assistant='a red circle .')])
    if num_frames:
        load = [InMemoryFrames(num_frames=num_frames, tile_size=112)]
    else:
        results.update(img=_image(seed), img_shape=(64, 80), ori_shape=(64, 80))
        load = [InternVLTiling(tile_size=112, min_tiles=1, max_tiles=1, use_thumbnail=True)]
    for t in load + [_tokenize(), LoadReferringMasks(),
                     Resize(scale=(128, 128), keep_ratio=False), PackReferringInputs()]:
        results = t(results)
    return results


def _referring_sample(seed: int):
    from desa2va_mm.datasets.transforms import (BuildReferringConversation, InternVLTiling,
                                                PackReferringInputs)
    from mmdet.datasets.transforms import Resize
    from mmdet.structures.mask import BitmapMasks
    masks = np.zeros((2, 64, 80), np.uint8)
    masks[0, 5:30, 5:30] = 1
    masks[1, 30:60, 40:75] = 1
    results = dict(img=_image(seed), img_shape=(64, 80), ori_shape=(64, 80),
                   img_path=f'ref{seed}.jpg', img_id=seed,
                   text=['the red circle', 'the blue square'],
                   gt_masks=BitmapMasks(masks, 64, 80))
    for t in (InternVLTiling(tile_size=112, min_tiles=1, max_tiles=1, use_thumbnail=False),
              Resize(scale=(128, 128), keep_ratio=False),
              BuildReferringConversation('train'), _tokenize(), PackReferringInputs()):
        results = t(results)
    return results


def _video_sample(seed: int):
    from test_desa2va_video import _video_sample as make
    return make(4, seed=seed)[0]


def _batch(kind: str):
    samples = {
        'image_qa': lambda: [_qa_sample(0, 0), _qa_sample(0, 1)],
        'video_qa': lambda: [_qa_sample(3, 2), _qa_sample(3, 3)],
        'referring': lambda: [_referring_sample(4), _referring_sample(5)],
        'video': lambda: [_video_sample(6), _video_sample(7)],
        'mixed': lambda: [_qa_sample(0, 8), _qa_sample(3, 9), _referring_sample(10),
                          _video_sample(11)],
    }[kind]()
    return pseudo_collate(samples)


@pytest.fixture(scope='module')
def models():
    return {name: _model(name) for name in MODELS_UNDER_TEST}


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('name', MODELS_UNDER_TEST)
def test_every_batch_kind_trains(models, name, kind):
    model = models[name]
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(_batch(kind), training=True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    has_grad = {n for n, p in model.named_parameters()
                if p.grad is not None and p.grad.abs().sum() > 0}
    nothing_to_segment = kind in ('image_qa', 'video_qa')
    mask_terms = [v for k, v in losses.items() if k.startswith(('loss_mask', 'loss_dice'))]
    assert mask_terms, losses.keys()
    if nothing_to_segment:
        assert all(v.item() == 0 for v in mask_terms), losses
    else:
        assert any(v.item() > 0 for v in mask_terms), losses
    if name == 'pretrain':
        # Phase 1 trains W_e and D_t only (and, in the tiny configs only, the SAM-2 image
        # encoder), and only on targets.
        parts = {'.'.join(n.split('.')[:2]) if n.startswith('seg_head.') else n.split('.')[0]
                 for n in has_grad}
        assert parts <= {'seg_head.neck', 'seg_head.text_head', 'grounding_encoder'}
        assert all(n.startswith('seg_head.neck.anchor_proj') for n in has_grad
                   if n.startswith('seg_head.neck.'))
        assert bool(has_grad) != nothing_to_segment
    else:
        # The LM loss reaches the LLM whenever the batch has answers.
        assert 'loss_lm' in losses and losses['loss_lm'] > 0
        assert any(n.startswith('mllm.') for n in has_grad)
    if name in ('decouple', 'fusion') and not nothing_to_segment:
        assert 'loss_adv' in losses and 'loss_mi' in losses
        assert any(n.startswith('seg_head.visual_head.') for n in has_grad)
