# Tiny Sa2VA with region prompts (<vp>): synthetic Osprey-layout region questions mixed
# with the synthetic RefCOCO set, from scratch on 2 CPU cores (docs/visual_prompts.md).
#   python tools/dataset_converters/make_synthetic_refcoco.py --out data/synthetic_refcoco \
#       --num-images 4000 --seed 0
#   python tools/dataset_converters/make_synthetic_osprey.py --out data/synthetic_osprey \
#       --num-images 600 --val-fraction 0.25 --seed 1
#   python tools/train.py configs/sa2va/sa2va_tiny_vp.py
#   python tools/analysis_tools/region_qa_accuracy.py configs/sa2va/sa2va_tiny_vp.py \
#       work_dirs/sa2va_tiny_vp/iter_1500.pth --data-root data/synthetic_osprey
_base_ = [
    '../_base_/models/sa2va_tiny.py', '../_base_/datasets/synthetic_osprey_tiny.py',
    '../_base_/schedules/iter_adamw.py', '../_base_/default_runtime.py'
]

# The model reads the region words with the pipelines' tokenizer.
model = dict(mllm=dict(tokenizer={{_base_.vp_tokenizer}}), max_new_tokens=8)
max_iters = 1500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
# No validation during the run: region questions are scored afterwards by
# tools/analysis_tools/region_qa_accuracy.py (the inferencer on the held-out file);
# tools/test.py scores referring segmentation on the synthetic RefCOCO val split.
val_dataloader = None
val_cfg = None
val_evaluator = None
optim_wrapper = dict(optimizer=dict(lr=3e-4, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=500, max_keep_ckpts=2))
randomness = dict(seed=0)
