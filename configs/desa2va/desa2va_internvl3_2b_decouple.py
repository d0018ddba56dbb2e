# DeSa2VA phase 2 on InternVL3-2B (model: _base_/models/desa2va_internvl3_2b.py); phases 1 and
# 3 as for 1B (desa2va_1b_{pretrain,fusion}.py with this model base).
#   bash tools/dist_train.sh configs/desa2va/desa2va_internvl3_2b_decouple.py 8
_base_ = ['../_base_/models/desa2va_internvl3_2b.py', '../_base_/real_size_training.py']

load_from = None  # or a phase-1 checkpoint, or a converted Sa2VA-InternVL3-2B
model = dict(train_phase='decouple',
             frozen_modules=['seg_head.text_head', 'seg_head.neck.anchor_proj'])
custom_hooks = [
    dict(type='TrainableCheckpointHook'),
    dict(type='GradReversalScheduleHook'),
]
