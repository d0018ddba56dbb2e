# DeSa2VA tiny, phase 1 (text pre-training): only W_e (neck.anchor_proj) and the text head
# D_t train, on L_seg(D_t(F, [pad; e]), G) with e from the ground-truth expression.
# Deviation from DESIGN.md (tiny only): the SAM-2 image encoder trains too, because here it
# starts from random weights instead of a pretrained SAM-2.
_base_ = [
    '_base_/models/desa2va_tiny.py', '_base_/datasets/synthetic_refcoco_tiny.py',
    '_base_/schedules/iter_adamw.py', '_base_/default_runtime.py'
]

max_iters = 600
model = dict(
    train_phase='pretrain',
    frozen_modules=['mllm', 'neck.text_proj', 'neck.visual_proj', 'visual_head', 'fusion',
                    'adversarial_loss', 'club_loss'])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters))
auto_scale_lr = dict(base_batch_size=16)
randomness = dict(seed=0)
