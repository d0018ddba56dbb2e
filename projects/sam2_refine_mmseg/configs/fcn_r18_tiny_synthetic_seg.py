# The plain mmseg segmentor the SAM-2 refinement is compared with: mmseg's FCN
# (``mmseg::_base_/models/fcn_r50-d8.py``, ResNetV1c-D8 + FCNHead) at tiny width, random
# init, on the synthetic shapes written in mmseg's layout by
# projects/sam2_refine_mmseg/tools/make_synthetic_seg.py (background + 5 shape classes,
# 128 px), scored by mmseg's IoUMetric.
#   python tools/train.py projects/sam2_refine_mmseg/configs/fcn_r18_tiny_synthetic_seg.py
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
default_scope = 'mmseg'

image_size = 128
classes = ('background', 'circle', 'square', 'triangle', 'star', 'hexagon')
palette = [[0, 0, 0], [220, 20, 60], [0, 128, 255], [60, 180, 75], [255, 200, 0],
           [145, 30, 180]]
# One process on a CPU: plain BN (the base's SyncBN needs a process group).
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=(image_size, image_size)),
    pretrained=None,  # from scratch: nothing to download
    # ResNet-18 layout (BasicBlock), channels 16-128, output stride 8 (the base's dilated
    # stages 3-4).
    backbone=dict(depth=18, stem_channels=16, base_channels=16, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=128, channels=32, num_convs=1, dropout_ratio=0.0,
                     num_classes=len(classes), norm_cfg=norm_cfg),
    auxiliary_head=None)

data_root = 'data/synthetic_seg/'
dataset = dict(type='BaseSegDataset', data_root=data_root,
               metainfo=dict(classes=classes, palette=palette),
               img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**dataset, pipeline=train_pipeline,
                 data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, pipeline=test_pipeline,
                 data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 400
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-2, weight_decay=0.01))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
