# DeSa2VA-4B, phase 2 (decoupling, docs/method.md §11): loads phase 1; D_t and W_e frozen; LoRA,
# new-token embedding / LM-head rows, projector, W_t, W_v, D_v, the fusion gate, the
# discriminators and the CLUB estimator train under
# L = L_lm + L_mask(text, visual, fused) + lambda_adv L_adv + lambda_mi (I + L_q).
#   bash tools/dist_train.sh configs/desa2va/desa2va_4b_decouple.py 8
#   bash tools/slurm_train.sh PARTITION desa2va_4b configs/desa2va/desa2va_4b_decouple.py \
#       work_dirs/desa2va_4b_decouple
_base_ = ['../_base_/models/desa2va_4b.py', '../_base_/real_size_training.py']

load_from = 'work_dirs/desa2va_4b_pretrain/epoch_1.pth'
model = dict(train_phase='decouple',
             frozen_modules=['seg_head.text_head', 'seg_head.neck.anchor_proj'])
custom_hooks = [
    dict(type='TrainableCheckpointHook'),
    dict(type='GradReversalScheduleHook'),
]
