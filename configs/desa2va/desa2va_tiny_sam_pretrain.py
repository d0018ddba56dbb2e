# Tiny configs only (DeSa2VA's counterpart of sa2va_tiny_sam_pretrain.py): the tiny SAM-2
# starts from random weights, so this stage teaches it SAM-2's own task (a positive click
# inside an object -> its mask) with both heads' decoders, standing in for the pretrained
# SAM-2 that real configs load. A SAM2ClickPretrainer: SAM-2 and the seg head's decoders of
# the phase-1 config, no MLLM; its checkpoint's keys are DeSa2VA's (phase 1 loads it).
_base_ = ['desa2va_tiny_pretrain.py']

max_iters = 600
model = dict(
    _delete_=True,
    type='SAM2ClickPretrainer',
    data_preprocessor=dict(type='ReferringDataPreprocessor'),
    grounding_encoder={{_base_.model.grounding_encoder}},
    mask_heads=dict(text_head={{_base_.model.seg_head.text_head}},
                    visual_head={{_base_.model.seg_head.visual_head}}),
    num_point_samples={{_base_.model.seg_head.num_point_samples}},
    loss_mask={{_base_.model.seg_head.loss_mask}},
    loss_dice={{_base_.model.seg_head.loss_dice}})
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# Language-conditioned validation means nothing for this stage.
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(interval=max_iters))
load_from = None
