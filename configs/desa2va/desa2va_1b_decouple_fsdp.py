# DeSa2VA-1B phase 2 under PyTorch FSDP (full sharding, bf16 mixed precision):
#   bash tools/dist_train.sh configs/desa2va/desa2va_1b_decouple_fsdp.py 8
_base_ = ['desa2va_1b_decouple.py', '../_base_/strategies/fsdp.py']

# FSDP: bf16 comes from the strategy's mixed precision, so the plain wrapper (no autocast).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    accumulative_counts=4,
    optimizer=dict(type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0))
