"""A tiny SAM-2 grounding encoder and image features for the seg-head tests (~0.3 s)."""
import os.path as osp

import torch
from mmengine.config import Config

HIDDEN = 24  # H, the MLLM hidden size the heads read

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
# The tiny configs' SAM-2 (one definition: configs/_base_/models/sa2va_tiny.py).
TINY_SAM2 = Config.fromfile(
    osp.join(REPO_ROOT, 'configs/_base_/models/sa2va_tiny.py')).tiny_sam2_overrides.to_dict()


def build(cfg: dict):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    return MODELS.build(cfg)


def tiny_grounding():
    """SAM2Grounding at 128 px (C = 64): image embedding 8 x 8, low-res logits 32 x 32."""
    torch.manual_seed(0)
    return build(dict(type='SAM2Grounding', config='configs/sam2/sam2_hiera_t.yaml',
                      overrides=TINY_SAM2))


def image_feats(grounding, num_images: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return grounding.encode_image(torch.randn(num_images, 3, 128, 128, generator=g))


def seg_head(grounding, **cfg):
    """A seg head as DeSa2VA builds it: H, the decoder arguments and SAM-2's decoder."""
    torch.manual_seed(1)
    cfg = dict(cfg, in_channels=HIDDEN, decoder_kwargs=grounding.mask_decoder_kwargs())
    head = build(cfg)
    head.init_from_decoder(grounding.mask_decoder)
    return head
