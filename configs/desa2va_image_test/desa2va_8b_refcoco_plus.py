# DeSa2VA-8B (InternVL2.5-8B + SAM-2 hiera-L), test only: RefCOCO+ val / testA / testB
# (cIoU, gIoU).
# The network of configs/desa2va/desa2va_8b_fusion.py (phase 3): both heads, fusion and
# re-prompting; one mask per sentence.
#   bash tools/dist_test.sh configs/desa2va_image_test/desa2va_8b_refcoco_plus.py \
#       work_dirs/desa2va_8b_fusion/epoch_1.pth 8
_base_ = ['../_base_/models/desa2va_8b.py', '../_base_/image_test/refcoco_plus.py']

model = dict(train_phase='fusion')
