# Sa2VA-8B baseline, test only: grounded conversation generation on GranD-f val (mask AP /
# AP50, mIoU, recall, CIDEr; docs/gcg.md).
# The network of configs/sa2va/sa2va_8b.py; a converted Sa2VA checkpoint
# (tools/model_converters/sa2va_to_desa2va.py) or our own. Captions are generated with the
# GCG budget of configs/_base_/gcg_test/granDf_val.py.
#   bash tools/dist_test.sh configs/sa2va_gcg_test/sa2va_8b_granDf_val.py \
#       work_dirs/sa2va_8b/epoch_1.pth 8
_base_ = ['../_base_/models/sa2va_8b.py', '../_base_/gcg_test/granDf_val.py']

model = dict(max_new_tokens={{_base_.gcg_max_new_tokens}})
