# Tiny configs only: real Sa2VA / DeSa2VA start from a pretrained SAM-2, whose decoder
# already answers prompt tokens. The tiny SAM-2 starts from random weights, so this short
# stage teaches it SAM-2's own task first (a positive click inside an object -> its mask);
# configs/sa2va/sa2va_tiny.py then loads it. A SAM2ClickPretrainer: SAM-2 and the seg head's
# decoder of sa2va_tiny.py, no MLLM (no language is involved).
_base_ = ['sa2va_tiny.py']

max_iters = 600
model = dict(
    _delete_=True,
    type='SAM2ClickPretrainer',
    data_preprocessor=dict(type='ReferringDataPreprocessor'),
    grounding_encoder={{_base_.model.grounding_encoder}},
    mask_heads=dict(mask_head={{_base_.model.seg_head.mask_head}}),
    loss_mask={{_base_.model.seg_head.loss_mask}},
    loss_dice={{_base_.model.seg_head.loss_dice}})
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# Language-conditioned validation means nothing for this stage.
val_dataloader = None
val_cfg = None
val_evaluator = None
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = None
