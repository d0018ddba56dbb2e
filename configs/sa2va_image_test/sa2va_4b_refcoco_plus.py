# Sa2VA-4B baseline (InternVL2.5-4B + SAM-2 hiera-L), test only: RefCOCO+ val / testA /
# testB (cIoU, gIoU).
# The network of configs/sa2va/sa2va_4b.py; a converted Sa2VA checkpoint
# (tools/model_converters/sa2va_to_desa2va.py) or our own.
#   bash tools/dist_test.sh configs/sa2va_image_test/sa2va_4b_refcoco_plus.py \
#       work_dirs/sa2va_4b/epoch_1.pth 8
_base_ = ['../_base_/models/sa2va_4b.py', '../_base_/image_test/refcoco_plus.py']
