# Tiny Sa2VA on synthetic grounded captions ("the red circle is left of the blue star .",
# each object phrase with its mask): the GCG path end to end on 2 CPU cores, training and
# test (GCGMetric on the val split).
#   python tools/dataset_converters/make_synthetic_gcg.py --out data/synthetic_gcg
#   python tools/train.py configs/sa2va_gcg_test/sa2va_tiny_synthetic_gcg.py
#   python tools/test.py configs/sa2va_gcg_test/sa2va_tiny_synthetic_gcg.py \
#       work_dirs/sa2va_tiny_synthetic_gcg/iter_1000.pth
_base_ = [
    '../_base_/models/sa2va_tiny.py', '../_base_/datasets/synthetic_gcg_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=500)
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
# A caption of 2-3 phrases with their tags is ~30 tokens.
model = dict(max_new_tokens=40)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=500, max_keep_ckpts=2))
randomness = dict(seed=0)
