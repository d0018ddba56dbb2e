# Tiny configs only (DeSa2VA's counterpart of sa2va_tiny_sam_pretrain.py): the tiny SAM-2
# starts from random weights, so this stage teaches it SAM-2's own task (a positive click
# inside an object -> its mask) with both heads, standing in for the pretrained SAM-2 that
# real configs load.
_base_ = ['desa2va_tiny_pretrain.py']

max_iters = 600
model = dict(train_phase='sam_pretrain', frozen_modules=[])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# Language-conditioned validation means nothing for this stage.
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = None
