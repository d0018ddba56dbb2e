# Tiny Sa2VA on synthetic multiple-choice questions in the MMBench TSV layout ("What colour
# is the square?" with four colour options, circular copies included), test only: the QA
# path end to end on 2 CPU cores, for checkpoints of configs/sa2va/sa2va_tiny_qa.py (its
# model, tokenizer and test set; docs/qa_eval.md).
#   python -m desa2va_mm.synthetic.qa_mcq --out data/synthetic_mcq/synthetic_mcq.tsv \
#       --num-questions 200 --seed 2 --circular
#   python tools/test.py configs/sa2va_qa_test/sa2va_tiny_synthetic_mmbench.py \
#       work_dirs/sa2va_tiny_qa/iter_1500.pth
_base_ = ['../sa2va/sa2va_tiny_qa.py']

train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
