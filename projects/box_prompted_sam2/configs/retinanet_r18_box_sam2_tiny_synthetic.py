# mmdet's RetinaNet (ResNet-18 + FPN), inherited as is with ``mmdet::``, whose boxes prompt
# desa2va's SAM2VisualHead through SAM-2's box embedding: instance masks from a box
# detector. Tiny dims, random init, on the synthetic shapes (COCO instances.json written by
# tools/dataset_converters/make_synthetic_refcoco.py).
#   python tools/train.py \
#       projects/box_prompted_sam2/configs/retinanet_r18_box_sam2_tiny_synthetic.py
_base_ = ['mmdet::retinanet/retinanet_r18_fpn_1x_coco.py']

custom_imports = dict(
    imports=['desa2va_mm', 'projects.box_prompted_sam2.box_prompted_sam2'],
    allow_failed_imports=False)
# Our scope is a child of mmdet's: mmdet's modules (ResNet, RetinaHead, CocoDataset,
# CocoMetric ...) resolve from it, and so do ours.
default_scope = 'desa2va_mm'

image_size = 128  # detector input = SAM-2 input: no resampling between the two
classes = ('circle', 'square', 'triangle', 'star', 'hexagon')

model = dict(
    # Dicts inherited through ``mmdet::`` carry ``_scope_='mmdet'``; ours lives in desa2va_mm.
    _scope_='desa2va_mm',
    type='BoxPromptedSAM2',
    # Tiny ResNet-18 (channels 8-64), from scratch: no torchvision download.
    backbone=dict(depth=18, base_channels=8, frozen_stages=-1, norm_eval=False,
                  init_cfg=None),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=32),
    bbox_head=dict(num_classes=len(classes), in_channels=32, feat_channels=32,
                   stacked_convs=1,
                   anchor_generator=dict(octave_base_scale=2)),
    grounding_encoder=dict(
        type='SAM2Grounding', config='configs/sam2/sam2_hiera_t.yaml', checkpoint=None,
        freeze_image_encoder=False,
        overrides=dict(
            image_size=image_size,
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
    mask_head=dict(type='SAM2VisualHead', multimask_output=False),
    loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
                   naive_dice=True, eps=1.0, loss_weight=2.0),
    max_train_masks=32,
    test_cfg=dict(score_thr=0.05, max_per_img=20))

data_root = 'data/synthetic_refcoco/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
dataset = dict(
    type='CocoDataset', data_root=data_root, metainfo=dict(classes=classes),
    ann_file='refcoco/instances.json', data_prefix=dict(img='train2014/'))
train_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(_delete_=True, **dataset, filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1,
    dataset=dict(_delete_=True, **dataset, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'refcoco/instances.json', metric=['bbox', 'segm'],
                     format_only=False)
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=2, val_interval=2)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01,
                                    _delete_=True))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50)]
# mmdet's runtime has none of desa2va_mm's checkpoint guards: --resume must not execute a
# checkpoint's config text, checkpoints stay plain data (a bare torch.load reads them) and
# a resumed run continues the random streams exactly (docs/tools.md).
custom_hooks = [dict(type='CheckpointConfigGuardHook'), dict(type='ExactResumeHook')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
