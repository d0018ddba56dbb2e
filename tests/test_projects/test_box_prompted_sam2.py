"""projects/box_prompted_sam2: an mmdet RetinaNet config (``mmdet::``) whose boxes prompt
desa2va's SAM2VisualHead; built from its config, one train step and one predict step."""
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'projects/box_prompted_sam2/configs/'
                  'retinanet_r18_box_sam2_tiny_synthetic.py')


@pytest.fixture
def project(synthetic_refcoco):
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(CONFIG)  # runs custom_imports: desa2va_mm + the project package
    init_default_scope(cfg.default_scope)
    from desa2va_mm.registry import DATASETS, MODELS
    for key in ('train_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = synthetic_refcoco + '/'
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()  # no Pretrained init: nothing to download
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    test_set = DATASETS.build(cfg.test_dataloader.dataset)
    return dict(cfg=cfg, model=model,
                train=pseudo_collate([train_set[i] for i in range(2)]),
                test=pseudo_collate([test_set[i] for i in range(2)]), test_set=test_set)


def test_config_inherits_mmdet_retinanet(project):
    cfg, model = project['cfg'], project['model']
    assert type(model).__name__ == 'BoxPromptedSAM2'
    assert type(model.bbox_head).__name__ == 'RetinaHead'  # from mmdet::retinanet
    assert type(model.backbone).__name__ == 'ResNet' and model.backbone.depth == 18
    assert type(model.mask_head).__name__ == 'SAM2VisualHead'
    assert cfg.model.bbox_head.anchor_generator.type == 'AnchorGenerator'  # inherited
    assert 'projects.box_prompted_sam2.box_prompted_sam2' in cfg.custom_imports.imports


def test_train_step_updates_detector_and_mask_head(project):
    from mmengine.optim import OptimWrapper
    model = project['model'].train()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    watched = {
        'bbox_head': model.bbox_head.retina_cls.weight,
        'mask_head': model.mask_head.decoder.output_hypernetworks_mlps[0].layers[0].weight,
        'sam2_encoder': next(model.grounding_encoder.sam2.image_encoder.parameters()),
    }
    before = {k: v.detach().clone() for k, v in watched.items()}
    log = model.train_step(project['train'], optim)
    assert {'loss_cls', 'loss_bbox', 'loss_mask', 'loss_dice'} <= set(log)
    assert all(torch.isfinite(v) for k, v in log.items() if k.startswith('loss'))
    for key, value in watched.items():
        assert not torch.equal(before[key], value.detach()), f'{key} did not train'


def test_predict_step_masks_come_from_box_prompts(project):
    model = project['model'].eval()
    model.bbox_head.test_cfg.score_thr = 0.0  # random init: keep the top boxes anyway
    model.bbox_head.test_cfg.max_per_img = 4
    results = model.test_step(project['test'])
    info = project['test_set'].get_data_info(0)
    pred = results[0].pred_instances
    assert len(pred) == 4
    assert tuple(pred.masks.shape) == (4, info['height'], info['width'])
    assert pred.masks.dtype == torch.bool and pred.mask_scores.shape == (4, )
    # Re-decode the first image's boxes by hand: same masks (boxes were rescaled to the
    # original image, 128 px here, so the scale factor is 1).
    data = model.data_preprocessor(project['test'], False)
    with torch.no_grad():
        images, scale = model._sam_inputs(data['inputs'])
        feats = model.grounding_encoder.encode_image(images)
        out = model.decode_boxes(feats, pred.bboxes, torch.zeros(4, dtype=torch.long), scale)
    logits = torch.nn.functional.interpolate(out['low_res_logits'], size=(128, 128),
                                             mode='bilinear', align_corners=False)
    assert torch.equal(logits[:, 0] > 0, pred.masks)
    # The box is the prompt: other boxes give other logits.
    with torch.no_grad():
        moved = model.decode_boxes(feats, torch.tensor([[0., 0., 30., 30.]] * 4),
                                   torch.zeros(4, dtype=torch.long), scale)['low_res_logits']
    assert not torch.allclose(moved, out['low_res_logits'])
