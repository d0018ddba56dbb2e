# Test only on GranD-f's GCG val split (GLaMM's ground truth, docs/gcg.md): mask AP / AP50,
# mIoU, grounded-phrase recall, CIDEr (and METEOR where pycocoevalcap and Java are
# installed), prefixed gcg_val/. The GranD-f test split: --cfg-options with the test files
# (ann_file=.../test_gcg_coco_caption_gt.json, mask_file=.../test_gcg_coco_mask_gt.json).
# A test-only GCG leaf adds its model (configs/desa2va_gcg_test/, configs/sa2va_gcg_test/):
#   _base_ = ['../_base_/models/sa2va_1b.py', '../_base_/gcg_test/granDf_val.py']
#   model = dict(max_new_tokens={{_base_.gcg_max_new_tokens}})
_base_ = ['../datasets/image_pipelines.py', '../default_runtime.py']

# A GCG caption with its <p> ... </p> [SEG] tags runs to ~100 tokens; the model bases' 32
# is for "Sure, [SEG]." answers. Generation stops at the end-of-turn token.
gcg_max_new_tokens = 512
glamm_root = 'data/glamm_data/'

test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='GranDfGCGEvalDataset',
        data_root=glamm_root,
        ann_file='annotations/gcg_val_test/val_gcg_coco_caption_gt.json',
        mask_file='annotations/gcg_val_test/val_gcg_coco_mask_gt.json',
        data_prefix=dict(img_path='images/grandf/val_test/'),
        test_mode=True,
        pipeline={{_base_.gcg_test_pipeline}}))
test_evaluator = dict(type='GCGMetric', prefix='gcg_val')
test_cfg = dict(type='TestLoop')
train_dataloader = None
val_dataloader = None
val_evaluator = None
