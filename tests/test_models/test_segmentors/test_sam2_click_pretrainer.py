"""SAM2ClickPretrainer (tiny stage 0): clicks -> masks, and its checkpoint feeds DeSa2VA."""
import pytest
import torch
from mmengine.registry import init_default_scope

from conftest import build_batch, load_tiny_cfg


def _build(cfg_model):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    torch.manual_seed(0)
    return MODELS.build(cfg_model)


@pytest.fixture(scope='module')
def stage0(tmp_path_factory):
    """The two stage-0 configs on 8 synthetic images (they have no val / test loader)."""
    from mmengine.config import Config

    from conftest import REPO_ROOT
    from desa2va_mm.synthetic import make_synthetic_refcoco
    root = str(tmp_path_factory.mktemp('synthetic_refcoco_stage0'))
    make_synthetic_refcoco(root, num_images=8, seed=0)
    cfgs = {}
    for arch in ('sa2va', 'desa2va'):
        cfg = Config.fromfile(f'{REPO_ROOT}/configs/{arch}/{arch}_tiny_sam_pretrain.py')
        cfg.train_dataloader.dataset.data_root = root + '/'
        cfg.train_dataloader.num_workers = 0
        cfg.train_dataloader.persistent_workers = False
        cfgs[arch] = cfg
    return cfgs


def test_click_loss_trains_sam2_and_decoders_without_language(stage0):
    cfg = stage0['desa2va']
    model = _build(cfg.model).train()
    assert not hasattr(model, 'mllm')
    data, _ = build_batch(cfg, 'train_dataloader', indices=(0, 1))
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_click_text', 'loss_click_visual'}
    sum(losses.values()).backward()
    for name in ('text_head', 'visual_head'):
        grad = model.seg_head[name].decoder.iou_token.weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    trunk = model.grounding_encoder.sam2.image_encoder.trunk.patch_embed.proj.weight
    assert trunk.grad.abs().sum() > 0  # the tiny image encoder learns objectness here
    with pytest.raises(ValueError, match="modes 'loss' and 'tensor'"):
        model(**batch, mode='predict')


def test_clicks_land_inside_their_masks():
    from desa2va_mm.models.seg_heads import sample_points_in_masks
    gt = torch.zeros(3, 40, 60)
    gt[0, 5:10, 7:20] = 1
    gt[1, 30:40, 50:60] = 1  # gt[2] empty: anywhere
    torch.manual_seed(0)
    points = sample_points_in_masks(gt, 4, image_size=120).reshape(3, 4, 2)
    # SAM-2 pixels (120 x 120) -> mask pixels (40 rows x 60 columns): x / 2, y / 3.
    for mask, p in zip(gt[:2], points[:2]):
        xy = (p / torch.tensor([2.0, 3.0])).long()
        assert mask[xy[:, 1], xy[:, 0]].all()
    assert ((points[2] >= 0) & (points[2] < 120)).all()


def test_clicks_are_uniform_over_the_mask_and_the_image_when_empty():
    """Every pixel of a mask is drawn equally often (and no other pixel); an empty mask
    spreads its clicks over the whole image: the law of torch.multinomial on the mask."""
    from desa2va_mm.models.seg_heads import sample_points_in_masks
    gt = torch.zeros(2, 4, 5)
    gt[0, 1, 1:4] = 1
    gt[0, 3, 0] = 1  # 4 pixels, not contiguous
    torch.manual_seed(0)
    draws = 20000
    xy = sample_points_in_masks(gt, draws, image_size=20).reshape(2, draws, 2)
    # SAM-2 pixels (20 x 20) -> mask pixels (4 rows x 5 columns): x / 4, y / 5.
    cells = (xy / torch.tensor([4.0, 5.0])).long()
    counts = [torch.bincount(c[:, 1] * 5 + c[:, 0], minlength=20).float() for c in cells]
    inside = gt[0].flatten().bool()
    assert counts[0][~inside].sum() == 0
    # 4 cells of 5000 expected each: binomial std ~61, so 4 std is 245.
    assert (counts[0][inside] - draws / 4).abs().max() < 245
    assert (counts[1] - draws / 20).abs().max() < 4 * (draws * 0.05 * 0.95) ** 0.5
    # Points sit at pixel centres.
    assert torch.allclose(xy[..., 0] % 4, torch.tensor(2.0))
    assert torch.allclose(xy[..., 1] % 5, torch.tensor(2.5))


def test_checkpoint_keys_are_desa2va_keys_and_load_into_phase1(stage0, synthetic_refcoco):
    from mmengine.runner.checkpoint import load_state_dict
    pre = _build(stage0['desa2va'].model)
    with torch.no_grad():
        for p in pre.parameters():
            p.add_(0.5)  # "trained"
    state = pre.state_dict()
    assert {k.split('.')[0] for k in state} == {'grounding_encoder', 'seg_head'}
    phase1 = _build(load_tiny_cfg(synthetic_refcoco, 'configs/desa2va/desa2va_tiny_pretrain.py').model)
    own = phase1.state_dict()
    assert set(state) <= set(own)
    load_state_dict(phase1, state)  # what load_from does (non-strict)
    loaded = phase1.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    # The Sa2VA stage 0 feeds configs/sa2va/sa2va_tiny.py the same way.
    sa2va = _build(stage0['sa2va'].model).state_dict()
    own = _build(load_tiny_cfg(synthetic_refcoco, 'configs/sa2va/sa2va_tiny.py').model).state_dict()
    assert set(sa2va) <= set(own) and any(k.startswith('seg_head.mask_head.') for k in sa2va)
