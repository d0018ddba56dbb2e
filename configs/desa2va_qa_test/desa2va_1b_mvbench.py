# DeSa2VA-1B (InternVL2.5-1B + SAM-2 hiera-L), test only:
# MVBench (accuracy, per task and their mean).
# The network of configs/desa2va/desa2va_1b_fusion.py (phase 3); answers are generated
# with the QA budget of configs/_base_/qa_test/qa_common.py.
#   bash tools/dist_test.sh configs/desa2va_qa_test/desa2va_1b_mvbench.py \
#       work_dirs/desa2va_1b_fusion/epoch_1.pth 8
_base_ = ['../_base_/models/desa2va_1b.py', '../_base_/qa_test/mvbench.py']

model = dict(train_phase='fusion', max_new_tokens={{_base_.qa_max_new_tokens}})
