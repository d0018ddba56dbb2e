# DeSa2VA-1B phase 2 under DeepSpeed ZeRO-2 (Sa2VA's own setting): FlexibleRunner, bf16,
# micro-batch 2 x accumulation 4 per GPU.
#   bash tools/dist_train.sh configs/desa2va/desa2va_1b_decouple_zero2.py 8
# Checkpoints are DeepSpeed folders (work_dirs/.../epoch_1.pth/); phases chained under
# DeepSpeed load each other's folders.
_base_ = ['desa2va_1b_decouple.py', '../_base_/strategies/deepspeed_zero2.py']

# DeepSpeed's exclude_frozen_parameters alone would also drop the phase-1 heads (D_t, W_e):
# frozen here, but in no pretrained file. This strategy leaves out only the frozen MLLM /
# SAM-2 weights and keeps those heads in the checkpoint's client state.
strategy = dict(type='desa2va_mm.TrainableDeepSpeedStrategy',
                pretrained_prefixes=('mllm.', 'grounding_encoder.'))

# DeepSpeed owns clipping and accumulation (strategy): the wrapper only steps the optimiser.
optim_wrapper = dict(
    _delete_=True,
    type='DeepSpeedOptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.05))
