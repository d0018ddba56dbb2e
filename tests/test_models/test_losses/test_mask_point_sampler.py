"""MaskPointSampler: Sa2VA's point-sampled mask loss (docs/method.md §7)."""
import ast
import importlib.util
import os.path as osp
import sys
import types

import pytest
import torch
import torch.nn.functional as F

import desa2va_mm  # noqa: F401
from desa2va_mm.models.losses import MaskPointSampler
from desa2va_mm.models.seg_heads import segmentation_losses
from desa2va_mm.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SA2VA = 'magic-research/Sa2VA'
LOSS_MASK = dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=2.0)
LOSS_DICE = dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
                 naive_dice=True, eps=1.0, loss_weight=0.5)


class FixedPoints(MaskPointSampler):
    """The sampler with given points (the hand computation needs them fixed)."""

    def __init__(self, coords):
        super().__init__(num_points=coords.shape[1])
        self.coords = coords

    def sample_coords(self, logits):
        return self.coords


def _losses():
    return MODELS.build(LOSS_MASK), MODELS.build(LOSS_DICE)


def test_values_against_a_hand_computation_on_fixed_points():
    # 2 x 2 logits of one mask; the ground truth 4 x 4, its nearest resize to 2 x 2 keeps
    # pixels (0, 0), (0, 2), (2, 0), (2, 2): [[1, 0], [1, 1]].
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
    gt = torch.zeros(1, 4, 4)
    gt[0, 0, 0] = gt[0, 2, 0] = gt[0, 2, 2] = 1
    gt[0, 1, 1] = 1  # dropped by the nearest resize: must not show up in the targets
    # Pixel centres (x, y) of (row 0, col 0), (row 1, col 1), and the image centre (the
    # bilinear mean of all four).
    coords = torch.tensor([[[0.25, 0.25], [0.75, 0.75], [0.5, 0.5]]])
    sampler = FixedPoints(coords)
    preds, targets = sampler(logits, gt)
    assert torch.allclose(preds, torch.tensor([[2.0, -3.0, -0.375]]))
    assert torch.allclose(targets, torch.tensor([[1.0, 1.0, 0.75]]))

    loss_mask, loss_dice = segmentation_losses(logits, gt, *_losses(), sampler)
    x, y = torch.tensor([2.0, -3.0, -0.375]), torch.tensor([1.0, 1.0, 0.75])
    bce = -(y * torch.log(torch.sigmoid(x)) + (1 - y) * torch.log(1 - torch.sigmoid(x)))
    # Sa2VA's normalisation: BCE over N * P points, Dice over N masks (+1e-4 each).
    expected_mask = 2.0 * bce.sum() / (3 + 1e-4)
    p = torch.sigmoid(x)
    dice = 1 - (2 * (p * y).sum() + 1.0) / (p.sum() + y.sum() + 1.0)
    expected_dice = 0.5 * dice / (1 + 1e-4)
    assert torch.allclose(loss_mask, expected_mask, atol=1e-6)
    assert torch.allclose(loss_dice, expected_dice, atol=1e-6)


def test_full_pixel_path_is_unchanged_without_a_sampler():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 8, 8, generator=g)
    gt = (torch.rand(2, 32, 32, generator=g) > 0.5).float()
    loss_mask, loss_dice = _losses()
    up = F.interpolate(logits, size=(32, 32), mode='bilinear', align_corners=False)[:, 0]
    mask, dice = segmentation_losses(logits, gt, loss_mask, loss_dice)
    assert torch.equal(mask, loss_mask(up, gt)) and torch.equal(dice, loss_dice(up, gt))


def test_importance_points_are_the_most_uncertain():
    # Logits 0 (uncertain) on the left half, +-10 elsewhere: every importance point lands
    # on the left half; the random quarter spreads over the whole image.
    logits = torch.full((4, 1, 64, 64), 10.0)
    logits[:, :, 32:, 32:] = -10.0
    logits[..., :32] = 0.0
    sampler = MaskPointSampler(num_points=2000, oversample_ratio=3, importance_sample_ratio=0.75)
    torch.manual_seed(0)
    coords = sampler.sample_coords(logits)
    assert coords.shape == (4, 2000, 2)
    assert ((coords >= 0) & (coords <= 1)).all()
    importance, uniform = coords[:, :1500], coords[:, 1500:]
    # Exactly uncertain: at least half a pixel inside the 0 region.
    assert (importance[..., 0] < 0.5 - 0.5 / 64).all()
    left = (uniform[..., 0] < 0.5).float().mean()
    assert 0.4 < left < 0.6
    # With no importance sampling the points are uniform.
    plain = MaskPointSampler(num_points=2000, importance_sample_ratio=0.0)
    assert 0.45 < (plain.sample_coords(logits)[..., 0] < 0.5).float().mean() < 0.55


def test_gradients_reach_the_logits_only_through_sampled_points():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 1, 16, 16, generator=g, requires_grad=True)
    gt = torch.zeros(3, 64, 64)
    gt[:, 10:40, 5:30] = 1
    sampler = MaskPointSampler(num_points=20)
    mask, dice = segmentation_losses(logits, gt, *_losses(), sampler)
    (mask + dice).backward()
    grad = logits.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # 20 bilinear points touch at most 4 logits each: most of the 256 get no gradient.
    assert ((grad != 0).flatten(1).sum(1) <= 80).all()


def test_settings_are_checked():
    with pytest.raises(ValueError, match='mask_loss_sampler.num_points'):
        MaskPointSampler(num_points=0)
    with pytest.raises(ValueError, match='mask_loss_sampler.oversample_ratio'):
        MaskPointSampler(oversample_ratio=0.5)
    with pytest.raises(ValueError, match='mask_loss_sampler.importance_sample_ratio'):
        MaskPointSampler(importance_sample_ratio=1.5)
    built = MODELS.build(dict(type='MaskPointSampler'))
    assert (built.num_points, built.oversample_ratio, built.importance_sample_ratio) == \
        (12544, 3.0, 0.75)


def test_real_size_bases_sample_points_and_tiny_ones_do_not():
    from mmengine.config import Config
    sampler = dict(type='MaskPointSampler', num_points=12544, oversample_ratio=3.0,
                   importance_sample_ratio=0.75)
    for name in ('sa2va_1b', 'sa2va_8b', 'desa2va_1b', 'desa2va_internvl3_8b'):
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'models', f'{name}.py'))
        assert cfg.model.seg_head.mask_loss_sampler == sampler, name
    for name in ('sa2va_tiny', 'desa2va_tiny', 'desa2va_tiny_video'):
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'models', f'{name}.py'))
        assert cfg.model.seg_head.mask_loss_sampler is None, name


# ---------------------------------------------------------------- Sa2VA's own code
def _reference():
    spec = importlib.util.spec_from_file_location('reference_code', osp.join(
        REPO_ROOT, 'tests', 'test_evaluation', 'test_metrics', 'reference_code.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sa2va_package(tmp_path, reference):
    """Sa2VA's third_parts mmdet losses and point sampling, imported from the fetched copy."""
    root = tmp_path / 'sa2va_third_parts'
    files = {'losses': ('__init__', 'accuracy', 'cross_entropy_loss', 'dice_loss', 'utils'),
             'utils': ('__init__', 'point_sample')}
    for sub, names in files.items():
        (root / sub).mkdir(parents=True)
        for name in names:
            (root / sub / f'{name}.py').write_text(reference.reference_source(
                SA2VA, f'third_parts/mmdet/models/{sub}/{name}.py'), encoding='utf-8')
    (root / '__init__.py').write_text('', encoding='utf-8')
    sys.path.insert(0, str(tmp_path))
    try:
        losses = importlib.import_module('sa2va_third_parts.losses')
        utils = importlib.import_module('sa2va_third_parts.utils')
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith('sa2va_third_parts')]:
            sys.modules.pop(name)
    return losses, utils


def _sa2va_sample_points(reference, utils):
    """``sample_points`` of Sa2VA's training model, compiled from its source file."""
    from mmcv.ops import point_sample
    source = reference.reference_source(SA2VA, 'projects/llava_sam2/models/llava_sam2.py')
    tree = ast.parse(source)
    func = next(node for cls in tree.body if isinstance(cls, ast.ClassDef)
                for node in cls.body
                if isinstance(node, ast.FunctionDef) and node.name == 'sample_points')
    namespace = dict(torch=torch, point_sample=point_sample,
                     get_uncertain_point_coords_with_randomness=(
                         utils.get_uncertain_point_coords_with_randomness))
    exec(compile(ast.Module(body=[func], type_ignores=[]), 'sa2va_sample_points', 'exec'),
         namespace)
    return namespace['sample_points']


def test_equals_sa2vas_own_loss_function(tmp_path):
    reference = _reference()
    losses, utils = _sa2va_package(tmp_path, reference)
    sample_points = _sa2va_sample_points(reference, utils)
    this = types.SimpleNamespace(num_points=12544, oversample_ratio=3.0,
                                 importance_sample_ratio=0.75)
    sa2va_mask = losses.CrossEntropyLoss(use_sigmoid=True, reduction='mean', loss_weight=2.0)
    sa2va_dice = losses.DiceLoss(use_sigmoid=True, activate=True, reduction='mean',
                                 naive_dice=True, eps=1.0, loss_weight=0.5)

    g = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 1, 64, 64, generator=g) * 4
    gt = torch.zeros(5, 256, 256)
    for i in range(5):
        gt[i, 20 * i:100 + 30 * i, 40:200 - 10 * i] = 1

    # Sa2VA: ground truth to the logits' size (nearest), then sample_points and the losses.
    gt_small = F.interpolate(gt.unsqueeze(0), size=logits.shape[-2:], mode='nearest')[0]
    torch.manual_seed(7)
    point_pred, point_gt = sample_points(this, logits[:, 0], gt_small)
    expected_dice = sa2va_dice(point_pred, point_gt, avg_factor=len(gt_small) + 1e-4)
    expected_mask = sa2va_mask(point_pred.reshape(-1), point_gt.reshape(-1),
                               avg_factor=logits.shape[0] * point_pred.shape[1] + 1e-4)

    torch.manual_seed(7)
    loss_mask, loss_dice = segmentation_losses(logits, gt, *_losses(), MaskPointSampler())
    assert torch.allclose(loss_mask, expected_mask, rtol=1e-6, atol=0)
    assert torch.allclose(loss_dice, expected_dice, rtol=1e-6, atol=0)
