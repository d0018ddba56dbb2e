# DeSa2VA tiny, phase 1 (text pre-training): only W_e (seg_head.neck.anchor_proj) and the
# text head D_t train, on L_seg(D_t(F, [pad; e]), G) with e from the ground-truth expression.
# It loads the tiny stage 0 (configs/desa2va/desa2va_tiny_sam_pretrain.py), which stands in for the
# pretrained SAM-2 of real configs. Deviation (tiny only, see _base_/models/sa2va_tiny.py):
# the SAM-2 image encoder keeps training.
# The MLLM is not listed in frozen_modules: phase 1 never backpropagates into it (the anchor
# reads its input embeddings without gradient), so it stays at this build's initialisation,
# which stage 0 (a SAM2ClickPretrainer, no MLLM) does not hold. Frozen, it would be frozen
# weights that neither the checkpoint nor a pretrained file provides, and the load would be
# refused (desa2va_mm/utils/pretrained_sources.py).
_base_ = [
    '../_base_/models/desa2va_tiny.py', '../_base_/datasets/synthetic_refcoco_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

max_iters = 1600
load_from = 'work_dirs/desa2va_tiny_sam_pretrain/iter_600.pth'
model = dict(
    train_phase='pretrain',
    frozen_modules=['seg_head.neck.text_proj', 'seg_head.neck.visual_proj',
                    'seg_head.visual_head', 'seg_head.fusion', 'seg_head.adversarial_loss',
                    'seg_head.club_loss'])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters))
auto_scale_lr = dict(base_batch_size=16)
randomness = dict(seed=0)
