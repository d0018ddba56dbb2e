# Sa2VA baseline, tiny: trains in minutes on 2 CPU cores on the synthetic RefCOCO data.
#   python tools/dataset_converters/make_synthetic_refcoco.py --out data/synthetic_refcoco \
#       --num-images 4000 --seed 0
#   python tools/train.py configs/sa2va/sa2va_tiny_sam_pretrain.py   # stage 0: SAM-2 on clicks
#   python tools/train.py configs/sa2va/sa2va_tiny.py
# (load_from=None trains everything from scratch instead.)
_base_ = [
    '../_base_/models/sa2va_tiny.py', '../_base_/datasets/synthetic_refcoco_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

max_iters = 3000
train_cfg = dict(max_iters=max_iters, val_interval=1000)
# Fused AdamW (one kernel per step); torch refuses fused together with the schedule's
# foreach, so foreach goes back to torch's choice.
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01, fused=True, foreach=None))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=500, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=16)
randomness = dict(seed=0)
load_from = 'work_dirs/sa2va_tiny_sam_pretrain/iter_600.pth'
