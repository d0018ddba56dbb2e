# DeSa2VA-1B (InternVL2.5-1B + SAM-2 hiera-L), test only: gRefCOCO val / testA / testB
# (cIoU, gIoU, N-acc, T-acc).
# The network of configs/desa2va/desa2va_1b_fusion.py (phase 3): both heads, fusion and
# re-prompting; one mask per sentence.
#   bash tools/dist_test.sh configs/desa2va_image_test/desa2va_1b_grefcoco.py \
#       work_dirs/desa2va_1b_fusion/epoch_1.pth 8
_base_ = ['../_base_/models/desa2va_1b.py', '../_base_/image_test/grefcoco.py']

model = dict(train_phase='fusion')
