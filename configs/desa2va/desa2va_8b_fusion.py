# DeSa2VA-8B, phase 3 (fusion / re-prompt fine-tuning, docs/method.md §11): loads phase 2; the
# fused mask re-prompts the visual head once in training too (loss_mask_reprompt); the
# trainable set is phase 2's.
#   bash tools/dist_train.sh configs/desa2va/desa2va_8b_fusion.py 8
_base_ = ['desa2va_8b_decouple.py']

load_from = 'work_dirs/desa2va_8b_decouple/epoch_1.pth'
model = dict(train_phase='fusion', train_cfg=dict(reprompt_iters=1))
