"""projects/sam2_refine_mmseg: an mmseg FCN config (``mmseg::``) whose coarse per-class
masks prompt desa2va's SAM-2 head; built from its config, loss / predict on a tiny batch,
and a short training scored by mmseg's IoUMetric."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

pytest.importorskip('mmseg')  # tools/run_tests.sh installs it (WITH_MMSEG=1)

CONFIGS = osp.join(REPO_ROOT, 'projects/sam2_refine_mmseg/configs')
REFINE = osp.join(CONFIGS, 'fcn_r18_sam2_refine_tiny_synthetic_seg.py')
PLAIN = osp.join(CONFIGS, 'fcn_r18_tiny_synthetic_seg.py')


def make_set(tmp_path_factory, num_train, num_val):
    from projects.sam2_refine_mmseg.sam2_refine_mmseg import make_synthetic_seg
    root = str(tmp_path_factory.mktemp('synthetic_seg'))
    make_synthetic_seg(root, num_train=num_train, num_val=num_val, seed=0)
    return root


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    return make_set(tmp_path_factory, 4, 2)


def load_config(path, root):
    from mmengine.config import Config
    cfg = Config.fromfile(path)  # runs custom_imports: desa2va_mm + the project package
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root + '/'
    return cfg


@pytest.fixture(scope='module')
def project(seg_root):
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    cfg = load_config(REFINE, seg_root)
    init_default_scope(cfg.default_scope)
    from mmseg.registry import DATASETS, MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()  # no Pretrained init: nothing to download
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    return dict(cfg=cfg, model=model, train=pseudo_collate([train_set[i] for i in range(2)]),
                val=pseudo_collate([val_set[i] for i in range(2)]))


def test_dataset_is_mmseg_layout(seg_root):
    import cv2
    from projects.sam2_refine_mmseg.sam2_refine_mmseg import CLASSES
    names = sorted(os.listdir(osp.join(seg_root, 'img_dir', 'train')))
    assert names == ['000000.png', '000001.png', '000002.png', '000003.png']
    assert sorted(os.listdir(osp.join(seg_root, 'ann_dir', 'val'))) == ['000004.png',
                                                                       '000005.png']
    ann = cv2.imread(osp.join(seg_root, 'ann_dir', 'train', names[0]), cv2.IMREAD_UNCHANGED)
    assert ann.shape == (128, 128) and ann.dtype == np.uint8
    values = set(np.unique(ann).tolist())
    assert 0 in values and len(values) >= 2 and max(values) < len(CLASSES)


def test_config_inherits_mmseg_fcn(project):
    cfg, model = project['cfg'], project['model']
    assert cfg.default_scope == 'mmseg'
    assert type(model).__name__ == 'SAM2RefineEncoderDecoder'
    assert type(model.backbone).__name__ == 'ResNetV1c' and model.backbone.depth == 18
    assert type(model.decode_head).__name__ == 'FCNHead'  # from mmseg::_base_/models
    assert model.backbone.dilations == (1, 1, 2, 4)  # inherited as is
    assert type(model.mask_head).__name__ == 'SAM2VisualHead'
    assert type(model.grounding_encoder).__name__ == 'SAM2Grounding'
    assert model.num_classes == 6 and model.class_embed.weight.shape == (6, 64)


def test_loss_trains_decode_head_and_sam2_head(project):
    from mmengine.optim import OptimWrapper
    model = project['model'].train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    watched = {
        'decode_head': model.decode_head.conv_seg.weight,
        'mask_head': model.mask_head.decoder.output_hypernetworks_mlps[0].layers[0].weight,
        'class_embed': model.class_embed.weight,
        'sam2_encoder': next(model.grounding_encoder.sam2.image_encoder.parameters()),
    }
    before = {k: v.detach().clone() for k, v in watched.items()}
    data = model.data_preprocessor(project['train'], True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg', 'refine.loss_ce',
                           'refine.acc_seg'}
    assert all(torch.isfinite(v) for v in losses.values())
    # The refinement's loss alone reaches the SAM-2 head, not the decode head (its
    # prompt is detached).
    model.zero_grad()
    losses['refine.loss_ce'].backward()
    head_weight = model.mask_head.decoder.output_hypernetworks_mlps[0].layers[0].weight
    assert head_weight.grad.abs().sum() > 0
    assert model.class_embed.weight.grad.abs().sum() > 0
    assert model.decode_head.conv_seg.weight.grad is None
    log = model.train_step(project['train'], optim)
    assert {'decode.loss_ce', 'refine.loss_ce', 'loss'} <= set(log)
    for key, value in watched.items():
        assert not torch.equal(before[key], value.detach()), f'{key} did not train'


def test_predict_gives_refined_segmentation(project):
    model = project['model'].eval()
    results = model.test_step(project['val'])
    assert len(results) == 2
    sample = results[0]
    assert tuple(sample.pred_sem_seg.data.shape) == (1, 128, 128)
    assert tuple(sample.seg_logits.data.shape) == (6, 128, 128)
    # The prediction is the argmax of the refined logits (coarse + the SAM-2 head's
    # per-class logits at S/4 = 32 px, bilinear to the input).
    data = model.data_preprocessor(project['val'], False)
    with torch.no_grad():
        refined = model._forward(data['inputs'])
        coarse = model.decode_head.forward(model.extract_feat(data['inputs']))
    assert refined.shape == (2, 6, 32, 32)
    up = torch.nn.functional.interpolate(refined, size=(128, 128), mode='bilinear',
                                         align_corners=False)
    assert torch.allclose(up[0], sample.seg_logits.data, atol=1e-5)
    assert torch.equal(up[0].argmax(0), sample.pred_sem_seg.data[0])
    # The coarse masks are the prompt: other coarse logits give other refined logits.
    with torch.no_grad():
        moved = model.refine(data['inputs'], coarse.roll(1, dims=1))
    assert not torch.allclose(moved, refined)
    # Refined = coarse (bilinear to 32 px) + the SAM-2 head's correction, which is not 0.
    base = torch.nn.functional.interpolate(coarse, size=(32, 32), mode='bilinear',
                                           align_corners=False)
    assert (refined - base).abs().mean() > 1e-3


def constant_miou(val_set, label):
    """mmseg IoUMetric's mIoU of predicting ``label`` on every pixel of ``val_set``."""
    from mmseg.evaluation import IoUMetric
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = val_set.metainfo
    for i in range(len(val_set)):
        sample = val_set[i]['data_samples']
        gt = sample.gt_sem_seg.data
        metric.process([], [dict(pred_sem_seg=dict(data=torch.full_like(gt, label)),
                                 gt_sem_seg=dict(data=gt))])
    return metric.compute_metrics(metric.results)['mIoU']


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_short_training_beats_constant_baseline(tmp_path_factory, tmp_path):
    """60 iterations with mmengine's Runner (what tools/train.py builds), then the val
    split through mmseg's IoUMetric."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    cfg = load_config(REFINE, make_set(tmp_path_factory, 96, 16))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = 60
    cfg.param_scheduler[0].end = 60
    cfg.default_hooks.checkpoint.interval = 60
    init_default_scope('mmseg')
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(metrics)
    from mmseg.registry import DATASETS
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    best_constant = max(constant_miou(val_set, label) for label in range(6))
    assert metrics['mIoU'] > best_constant + 2, (metrics, best_constant)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_stock_mmseg_train_script_runs_the_config(seg_root, tmp_path):
    """mmseg's own tools/train.py (shipped in the wheel) trains the project config."""
    import mmseg
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(script)
    work = str(tmp_path / 'work')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    cmd = [sys.executable, script, REFINE, '--work-dir', work, '--cfg-options',
           f'train_dataloader.dataset.data_root={seg_root}/',
           f'val_dataloader.dataset.data_root={seg_root}/',
           f'test_dataloader.dataset.data_root={seg_root}/',
           'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
           'default_hooks.checkpoint.interval=4', 'default_hooks.logger.interval=2']
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=850)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    assert 'mIoU' in proc.stdout + proc.stderr
