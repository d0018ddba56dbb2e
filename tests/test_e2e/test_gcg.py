"""Grounded conversation generation end to end: multi-[SEG] targets in the loss, and a short
tiny run through tools/train.py and tools/test.py scored by GCGMetric."""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, build_batch

CONFIG = 'configs/sa2va_gcg_test/sa2va_tiny_synthetic_gcg.py'


@pytest.fixture(scope='module')
def synthetic_gcg(tmp_path_factory):
    from desa2va_mm.synthetic import make_synthetic_gcg
    root = str(tmp_path_factory.mktemp('synthetic_gcg'))
    make_synthetic_gcg(root, num_images=12, seed=0)
    return root


def _cfg(root):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, CONFIG))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root + '/'
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    return cfg


def test_each_seg_of_a_caption_is_trained_on_its_own_mask(synthetic_gcg):
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS, MODELS
    cfg = _cfg(synthetic_gcg)
    init_default_scope('desa2va_mm')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    two = next(i for i in range(len(dataset))
               if len(dataset.get_data_info(i)['instances']) == 2)
    batch, _ = build_batch(cfg, indices=(two, ))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, True)
    sample = data['data_samples'][0]
    seg_id = model.mllm.seg_token_id
    assert int((data['inputs']['input_ids'] == seg_id).sum()) == 2
    gt_in_order = sample.gt_instances.masks.to_tensor(torch.float32, 'cpu')
    assert gt_in_order.shape[0] == 2 and not torch.equal(gt_in_order[0], gt_in_order[1])

    seen = {}
    decode, mask_losses = model.seg_head.decode, model.seg_head.mask_losses

    def spy_decode(grounding, feats, seg_hidden, image_idx):
        seg_hidden.retain_grad()
        seen['seg_hidden'] = seg_hidden
        return decode(grounding, feats, seg_hidden, image_idx)

    def spy_losses(result, gt):
        seen['gt'] = gt
        return mask_losses(result, gt)

    model.seg_head.decode, model.seg_head.mask_losses = spy_decode, spy_losses
    losses = model.loss(data['inputs'], data['data_samples'])
    # The k-th [SEG] of the caption is scored against the k-th phrase's mask.
    assert torch.equal(seen['gt'], gt_in_order)
    (losses['loss_mask'] + losses['loss_dice']).backward()
    grad = seen['seg_hidden'].grad
    assert grad.shape[0] == 2
    assert bool((grad.abs().sum(-1) > 0).all()), grad.abs().sum(-1)


def _run(args):
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_tiny_gcg_trains_and_is_scored(synthetic_gcg, tmp_path):
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={synthetic_gcg}/', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    work = tmp_path / 'work'
    out = _run([osp.join(REPO_ROOT, 'tools/train.py'), CONFIG, '--work-dir', str(work),
                '--cfg-options', *opts, 'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                'train_dataloader.batch_size=2', 'default_hooks.logger.interval=2',
                'default_hooks.checkpoint.interval=4'])
    assert 'loss_mask' in out and 'loss_lm' in out
    ckpt = open(work / 'last_checkpoint').read().strip()
    out = _run([osp.join(REPO_ROOT, 'tools/test.py'), CONFIG, ckpt, '--work-dir',
                str(tmp_path / 'test'), '--cfg-options', *opts])
    values = dict(re.findall(r'synthetic_gcg/(\w+): (-?[\d.]+)', out))
    assert {'mask_AP', 'mask_AP50', 'mIoU', 'recall', 'CIDEr'} <= set(values), out[-2000:]
    for key in ('mask_AP', 'mask_AP50', 'mIoU', 'recall'):
        assert 0.0 <= float(values[key]) <= 100.0, (key, values[key])
    assert float(values['CIDEr']) >= 0.0


def test_grounded_caption_pairs_phrases_with_masks_in_order():
    from desa2va_mm.apis import grounded_caption, split_grounded_answer
    from desa2va_mm.datasets.transforms import GCG_TEST_QUESTION
    assert split_grounded_answer('<p> a man </p> [SEG] and [SEG] <p> x </p>') == ['a man', None]

    masks = np.zeros((2, 4, 4), bool)
    masks[0, 0, 0] = masks[1, 3, 3] = True

    class ScriptedChat:
        def chat(self, image, question):
            self.question = question
            return dict(answer='<p> the red circle </p> [SEG] is left of <p> the star </p> '
                               '[SEG] .', masks=masks, scores=[0.9, 0.4])

    inferencer = ScriptedChat()
    out = grounded_caption(inferencer, 'img.jpg')
    assert inferencer.question == GCG_TEST_QUESTION
    assert out['caption'] == 'the red circle is left of the star .'
    assert [p['phrase'] for p in out['phrases']] == ['the red circle', 'the star']
    assert out['phrases'][0]['mask'][0, 0] and not out['phrases'][0]['mask'][3, 3]
    assert out['phrases'][1]['mask'][3, 3] and out['phrases'][1]['score'] == pytest.approx(0.4)

    class NoSeg:
        def chat(self, image, question):
            return dict(answer='a plain caption .', masks=np.zeros((1, 4, 4), bool),
                        scores=[0.0])

    assert grounded_caption(NoSeg(), 'img.jpg')['phrases'] == []
