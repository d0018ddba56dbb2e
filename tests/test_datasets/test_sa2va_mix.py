"""The Sa2VA data mix at tiny scale: referring images, QA and referring videos in one
ConcatDataset (with repeats) and in one batch, through the video data preprocessor and the
tiny video model's loss."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT
from test_llava_qa_dataset import qa_dataset_cfg, write_llava


@pytest.fixture(scope='module')
def synthetic_mevis(tmp_path_factory):
    from desa2va_mm.synthetic import make_synthetic_mevis
    root = str(tmp_path_factory.mktemp('synthetic_mevis'))
    make_synthetic_mevis(root, num_videos=4, num_frames=6, seed=0)
    return root


def _with_tokenizer(pipeline, tokenizer):
    pipeline = copy.deepcopy(pipeline)
    for step in pipeline:
        if step['type'] == 'TokenizeConversation':
            step['tokenizer'] = tokenizer
    return pipeline


def test_images_qa_and_videos_in_one_batch(synthetic_refcoco, synthetic_mevis, tmp_path):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS, MODELS
    init_default_scope('desa2va_mm')
    video_cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'desa2va_video', 'desa2va_tiny_video.py'))
    image_cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py'))
    tokenizer = video_cfg.model.mllm.tokenizer  # one vocabulary for every member
    refcoco = dict(image_cfg.train_dataloader.dataset, data_root=synthetic_refcoco + '/',
                   pipeline=_with_tokenizer(image_cfg.train_dataloader.dataset.pipeline,
                                            tokenizer))
    qa = qa_dataset_cfg(image_cfg, write_llava(tmp_path))
    qa['pipeline'] = _with_tokenizer(qa['pipeline'], tokenizer)
    mevis = dict(video_cfg.train_dataloader.dataset,
                 data_root=osp.join(synthetic_mevis, 'train') + '/')
    mix = DATASETS.build(dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=refcoco), qa,
        dict(type='RepeatDataset', times=3, dataset=mevis)], ignore_keys=['dataset_type']))
    n_ref, n_qa, n_vid = (len(d) for d in mix.datasets)
    assert n_ref == 2 * len(DATASETS.build(refcoco)) and n_qa == 3
    assert len(mix) == n_ref + n_qa + n_vid and n_vid % 3 == 0
    batch = [mix[0], mix[n_ref], mix[n_ref + n_qa]]  # one image, one QA, one video
    assert batch[2]['data_samples'].metainfo.get('is_video')

    torch.manual_seed(0)
    model = MODELS.build(video_cfg.model)
    model.train()
    data = model.data_preprocessor(pseudo_collate(batch), True)
    inputs = data['inputs']
    num_frames = batch[2]['inputs'].shape[0]
    # Images (referring and QA) are 1-frame videos next to the video's frames.
    assert inputs['frame_sample_idx'].tolist() == [0, 1] + [2] * num_frames
    losses = model.loss(inputs, data['data_samples'])
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total) and losses['loss_lm'] > 0
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for n, p in model.named_parameters() if 'visual_head' in n)
