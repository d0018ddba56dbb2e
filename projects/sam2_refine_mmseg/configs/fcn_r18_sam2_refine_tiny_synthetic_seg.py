# The FCN of fcn_r18_tiny_synthetic_seg.py (same backbone, head, data, schedule and seed)
# with desa2va's SAM-2 head refining its coarse per-class masks: each class's coarse
# log-odds is SAM-2's dense mask prompt, a learned class token its sparse prompt; the
# SAM-2 head's per-class logits are added to the coarse ones. Tiny SAM-2 (Hiera embed 16,
# 128 px), random init.
#   python tools/train.py \
#       projects/sam2_refine_mmseg/configs/fcn_r18_sam2_refine_tiny_synthetic_seg.py
_base_ = ['./fcn_r18_tiny_synthetic_seg.py']

custom_imports = dict(
    imports=['desa2va_mm', 'projects.sam2_refine_mmseg.sam2_refine_mmseg'],
    allow_failed_imports=False)

model = dict(
    type='SAM2RefineEncoderDecoder',  # registered in mmseg's registry by the package
    # Our modules by their scope prefix, resolved from mmseg's scope.
    grounding_encoder=dict(
        type='desa2va_mm.SAM2Grounding', config='configs/sam2/sam2_hiera_t.yaml',
        checkpoint=None, freeze_image_encoder=False,
        overrides=dict(
            image_size={{_base_.image_size}},
            image_encoder=dict(
                trunk=dict(embed_dim=16, num_heads=1, stages=[1, 1, 2, 1],
                           global_att_blocks=[3], window_pos_embed_bkg_spatial_size=[4, 4],
                           window_spec=[8, 4, 4, 2]),
                neck=dict(d_model=64, backbone_channel_list=[128, 64, 32, 16],
                          position_encoding=dict(num_pos_feats=64))),
            memory_attention=dict(
                d_model=64, num_layers=1,
                layer=dict(d_model=64, dim_feedforward=128,
                           self_attention=dict(embedding_dim=64, feat_sizes=[8, 8]),
                           cross_attention=dict(embedding_dim=64, feat_sizes=[8, 8],
                                                kv_in_dim=16))),
            memory_encoder=dict(
                out_dim=16, in_dim=64, position_encoding=dict(num_pos_feats=16),
                mask_downsampler=dict(embed_dim=64), fuser=dict(layer=dict(dim=64))))),
    mask_head=dict(type='desa2va_mm.SAM2VisualHead', multimask_output=False),
    loss_refine=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
# SAM-2's transformer and the class tokens train at a fifth of the FCN's learning rate.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    'grounding_encoder': dict(lr_mult=0.2), 'mask_head': dict(lr_mult=0.2),
    'class_embed': dict(lr_mult=0.2)}))
