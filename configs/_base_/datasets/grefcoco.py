# gRefCOCO (GRES, UNC splits: train / val / testA / testB) at real resolution, as ReLA ships it
# (docs/dataset_prepare.md):
#   data/coco/train2014/*.jpg,
#   data/coco/grefcoco/instances.json, data/coco/grefcoco/grefs(unc).json
# Multi-object expressions: the target is the union of the referred objects' masks.
# No-target expressions: the target is an empty mask (the model still answers with [SEG];
# an empty prediction is the right answer). Test: every sentence is one sample.
_base_ = ['image_pipelines.py']

data_root = 'data/coco/'
grefcoco_common = dict(
    type='GRefCocoDataset',
    data_root=data_root,
    ann_file='grefcoco/instances.json',
    split_file='grefcoco/grefs(unc).json',
    data_prefix=dict(img_path='train2014/'))
grefcoco_train = dict(**grefcoco_common, split='train', pipeline={{_base_.train_pipeline}})
grefcoco_val = dict(
    **grefcoco_common, split='val', test_mode=True, pipeline={{_base_.test_pipeline}})
grefcoco_testA = dict(
    **grefcoco_common, split='testA', test_mode=True, pipeline={{_base_.test_pipeline}})
grefcoco_testB = dict(
    **grefcoco_common, split='testB', test_mode=True, pipeline={{_base_.test_pipeline}})

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=grefcoco_train)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=grefcoco_val)
# ReLA's conventions: cIoU, gIoU, N-acc (no-target recognised), T-acc, Pr@0.7/0.8/0.9.
grefcoco_metric = dict(type='GRefSegMetric')
val_evaluator = grefcoco_metric

test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset',
                 datasets=[grefcoco_val, grefcoco_testA, grefcoco_testB]))
test_evaluator = dict(
    type='MultiDatasetsEvaluator',
    metrics=[grefcoco_metric] * 3,
    dataset_prefixes=['grefcoco_val', 'grefcoco_testA', 'grefcoco_testB'])
