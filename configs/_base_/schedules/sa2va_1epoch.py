# Sa2VA's recipe (docs/design.md §9): 1 epoch, AdamW lr 4e-5, betas (0.9, 0.999), wd 0.05, grad
# clip 1.0, bf16 autocast, batch 2 per GPU x accumulation 4 (x 8 GPUs = 64), linear
# warm-up over the first 5% then cosine to 0. Autocast needs a GPU: tools/train.py stops
# with a clear message on CPU (use optim_wrapper.type=NonFiniteGuardOptimWrapper there).
# The NaN/Inf guard skips and logs a non-finite step and stops after 5 in a row; bf16 has
# no loss scaler to absorb overflows, so the gradients are inspected too.
max_epochs = 1
warmup_ratio = 0.05

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='NonFiniteGuardAmpOptimWrapper',
    max_consecutive_bad_steps=5,
    check_grads=True,
    dtype='bfloat16',
    accumulative_counts=4,
    optimizer=dict(type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, error_if_nonfinite=False))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-5, by_epoch=True, begin=0,
         end=warmup_ratio * max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=0.0, by_epoch=True, begin=warmup_ratio * max_epochs,
         end=max_epochs, convert_to_iter_based=True),
]

# 2 per GPU x 8 GPUs x 4 accumulation steps.
auto_scale_lr = dict(enable=False, base_batch_size=64)
