# Sa2VA-4B baseline (InternVL2.5-4B + SAM-2 hiera-L), test only:
# MVBench (accuracy, per task and their mean).
# The network of configs/sa2va/sa2va_4b.py; a converted Sa2VA checkpoint
# (tools/model_converters/sa2va_to_desa2va.py) or our own. Answers are generated with the QA
# budget of configs/_base_/qa_test/qa_common.py.
#   bash tools/dist_test.sh configs/sa2va_qa_test/sa2va_4b_mvbench.py \
#       work_dirs/sa2va_4b/epoch_1.pth 8
_base_ = ['../_base_/models/sa2va_4b.py', '../_base_/qa_test/mvbench.py']

model = dict(max_new_tokens={{_base_.qa_max_new_tokens}})
