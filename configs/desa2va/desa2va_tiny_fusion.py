# DeSa2VA tiny, phase 3 (fusion / re-prompt fine-tuning): loads phase 2; the fused mask
# re-prompts the visual head once in training too (loss_mask_reprompt).
_base_ = ['desa2va_tiny_decouple.py']

max_iters = 100
load_from = 'work_dirs/desa2va_tiny_decouple/iter_2000.pth'
model = dict(train_phase='fusion', train_cfg=dict(reprompt_iters=1))
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-6),
]
