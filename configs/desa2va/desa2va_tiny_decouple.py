# DeSa2VA tiny, phase 2 (decoupling): loads phase 1; D_t and W_e frozen; the MLLM, W_t,
# W_v, D_v, fusion gate, discriminators and CLUB estimator train.
#   python tools/train.py configs/desa2va/desa2va_tiny_pretrain.py
#   python tools/train.py configs/desa2va/desa2va_tiny_decouple.py
_base_ = [
    '../_base_/models/desa2va_tiny.py', '../_base_/datasets/synthetic_refcoco_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

max_iters = 2000
load_from = 'work_dirs/desa2va_tiny_pretrain/iter_1600.pth'
# Test-time re-prompting off (tiny only; the paper's and the real-size configs' setting is
# 1): on the tiny model re-prompting the fused mask lowers cIoU on every checkpoint
# measured, by 1.1-7.6 points, and worsens most masks whose first IoU is >= 0.3
# (docs/results.md §2, tools/analysis_tools/reprompt_strata.py). Phase 3 still trains it.
model = dict(train_phase='decouple',
             frozen_modules=['seg_head.text_head', 'seg_head.neck.anchor_proj'],
             test_cfg=dict(reprompt_iters=0))
train_cfg = dict(max_iters=max_iters, val_interval=1000)
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-5),
]
custom_hooks = [
    dict(type='GradReversalScheduleHook'),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=500, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=16)
randomness = dict(seed=0)
