"""A tiny SAM-2 grounding encoder and image features for the seg-head tests (~0.3 s)."""
import torch

HIDDEN = 24  # H, the MLLM hidden size the heads read

TINY_SAM2 = dict(
    image_size=128,
    num_maskmem=3,
    image_encoder=dict(
        trunk=dict(embed_dim=16, num_heads=1, stages=[1, 1, 2, 1], global_att_blocks=[3],
                   window_pos_embed_bkg_spatial_size=[4, 4], window_spec=[8, 4, 4, 2]),
        neck=dict(d_model=64, backbone_channel_list=[128, 64, 32, 16],
                  position_encoding=dict(num_pos_feats=64))),
    memory_attention=dict(
        d_model=64, num_layers=1,
        layer=dict(d_model=64, dim_feedforward=128,
                   self_attention=dict(embedding_dim=64, feat_sizes=[8, 8]),
                   cross_attention=dict(embedding_dim=64, feat_sizes=[8, 8], kv_in_dim=16))),
    memory_encoder=dict(
        out_dim=16, in_dim=64, position_encoding=dict(num_pos_feats=16),
        mask_downsampler=dict(embed_dim=64), fuser=dict(layer=dict(dim=64))),
)


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
