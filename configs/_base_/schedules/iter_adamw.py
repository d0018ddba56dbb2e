# Iteration-based AdamW schedule: linear warm-up then cosine decay (Sa2VA's shape).
max_iters = 10000
warmup_iters = 500

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# NonFiniteGuardOptimWrapper: a step whose loss or gradients hold NaN / Inf is skipped on
# every rank and logged; 5 such steps in a row stop training (docs/reliability.md).
optim_wrapper = dict(
    type='NonFiniteGuardOptimWrapper',
    max_consecutive_bad_steps=5,
    # foreach: one multi-tensor update instead of a Python loop over the parameters (what
    # torch already picks on CUDA; on a CPU it made the tiny phase-2 step 10 % faster, the
    # same losses to the logged digit). A leaf that sets fused=True sets foreach=None.
    optimizer=dict(type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.05,
                   foreach=True),
    clip_grad=dict(max_norm=1.0))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup_iters, end=max_iters,
         eta_min=0.0),
]

# Sa2VA: batch 2 per GPU x 8 GPUs x accumulation 4 = 64.
auto_scale_lr = dict(enable=False, base_batch_size=64)
