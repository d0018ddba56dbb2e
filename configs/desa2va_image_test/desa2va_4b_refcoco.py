# DeSa2VA-4B (InternVL2.5-4B + SAM-2 hiera-L), test only: RefCOCO val / testA / testB (cIoU,
# gIoU).
# The network of configs/desa2va/desa2va_4b_fusion.py (phase 3): both heads, fusion and
# re-prompting; one mask per sentence.
#   bash tools/dist_test.sh configs/desa2va_image_test/desa2va_4b_refcoco.py \
#       work_dirs/desa2va_4b_fusion/epoch_1.pth 8
_base_ = ['../_base_/models/desa2va_4b.py', '../_base_/image_test/refcoco.py']

model = dict(train_phase='fusion')
