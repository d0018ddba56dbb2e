# DeSa2VA-4B, test only: grounded conversation generation on GranD-f val (mask AP / AP50,
# mIoU, recall, CIDEr; docs/gcg.md).
# The network of configs/desa2va/desa2va_4b_fusion.py (phase 3): both heads, fusion and
# re-prompting, one mask per [SEG] of the caption. Captions are generated with the GCG
# budget of configs/_base_/gcg_test/granDf_val.py.
#   bash tools/dist_test.sh configs/desa2va_gcg_test/desa2va_4b_granDf_val.py \
#       work_dirs/desa2va_4b_fusion/epoch_1.pth 8
_base_ = ['../_base_/models/desa2va_4b.py', '../_base_/gcg_test/granDf_val.py']

model = dict(train_phase='fusion', max_new_tokens={{_base_.gcg_max_new_tokens}})
