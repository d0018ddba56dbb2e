# Sa2VA-1B baseline under DeepSpeed ZeRO-2, as Sa2VA trains it; frozen parameters (InternVL
# base, SAM-2 encoder) are left out of the checkpoints (they come from `pretrained`).
#   bash tools/dist_train.sh configs/sa2va/sa2va_1b_zero2.py 8
_base_ = ['sa2va_1b.py', '../_base_/strategies/deepspeed_zero2.py']

# Same checkpoint rule as DeSa2VA's, and DeepSpeed's files read with weights_only=True.
strategy = dict(type='desa2va_mm.TrainableDeepSpeedStrategy',
                pretrained_prefixes=('mllm.', 'grounding_encoder.'))

# DeepSpeed owns clipping and accumulation (strategy): the wrapper only steps the optimiser.
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.05))
