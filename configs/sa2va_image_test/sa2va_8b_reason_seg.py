# Sa2VA-8B baseline (InternVL2.5-8B + SAM-2 hiera-L), test only: ReasonSeg val / test (gIoU,
# cIoU).
# The network of configs/sa2va/sa2va_8b.py; a converted Sa2VA checkpoint
# (tools/model_converters/sa2va_to_desa2va.py) or our own.
#   bash tools/dist_test.sh configs/sa2va_image_test/sa2va_8b_reason_seg.py \
#       work_dirs/sa2va_8b/epoch_1.pth 8
_base_ = ['../_base_/models/sa2va_8b.py', '../_base_/image_test/reason_seg.py']
