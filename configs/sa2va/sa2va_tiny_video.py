# Tiny Sa2VA baseline on video, on synthetic MeViS: the counterpart of
# configs/desa2va_video/desa2va_tiny_video.py with Sa2VA's seg head, started from a tiny
# Sa2VA image checkpoint (sa2va_tiny.py) and trained with the same data, schedule and
# frozen SAM-2 image encoder, so a J&F difference between the two is the architecture's.
#   python tools/train.py configs/sa2va/sa2va_tiny.py          # -> work_dirs/sa2va_tiny
#   python tools/dataset_converters/make_synthetic_mevis.py --out data/synthetic_mevis \
#       --num-videos 200 --num-frames 12 --seed 0
#   python tools/train.py configs/sa2va/sa2va_tiny_video.py    # 300 iterations
#   python tools/test.py configs/sa2va/sa2va_tiny_video.py work_dirs/sa2va_tiny_video/iter_300.pth
_base_ = [
    '../_base_/models/sa2va_tiny_video.py', '../_base_/datasets/synthetic_mevis_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

max_iters = 300
load_from = 'work_dirs/sa2va_tiny/iter_3000.pth'
model = dict(grounding_encoder=dict(freeze_image_encoder=True))
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=100, max_keep_ckpts=3))
randomness = dict(seed=0)
