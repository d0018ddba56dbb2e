# Tiny Sa2VA answering multiple-choice questions about the synthetic scenes: colour
# questions in LLaVA's layout mixed with the synthetic RefCOCO set, from scratch on 2 CPU
# cores; scored on held-out pictures in MMBench's layout (docs/qa_eval.md).
#   python tools/dataset_converters/make_synthetic_refcoco.py --out data/synthetic_refcoco \
#       --num-images 4000 --seed 0
#   python -m desa2va_mm.synthetic.qa_mcq --llava --out data/synthetic_mcq_train \
#       --num-questions 600 --seed 1 --circular
#   python -m desa2va_mm.synthetic.qa_mcq --out data/synthetic_mcq/synthetic_mcq.tsv \
#       --num-questions 200 --seed 2 --circular
#   python tools/train.py configs/sa2va/sa2va_tiny_qa.py
#   python tools/test.py configs/sa2va/sa2va_tiny_qa.py work_dirs/sa2va_tiny_qa/iter_1500.pth
_base_ = [
    '../_base_/models/sa2va_tiny.py', '../_base_/datasets/synthetic_mcq_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

# The model reads the question words with the pipelines' tokenizer; "B. blue" is 3 tokens.
model = dict(mllm=dict(tokenizer={{_base_.qa_tokenizer}}), max_new_tokens=8)
max_iters = 1500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=500, max_keep_ckpts=2))
randomness = dict(seed=0)
