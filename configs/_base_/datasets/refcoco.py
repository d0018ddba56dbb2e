# RefCOCO (UNC splits: train / val / testA / testB)
# at real resolution, Sa2VA's recipe, in mmdet's RefCOCO layout (docs/dataset_prepare.md):
#   data/coco/train2014/*.jpg,
#   data/coco/refcoco/instances.json, data/coco/refcoco/refs(unc).p
# Training: up to 5 referred objects per image, a fresh random sentence each, one
# multi-turn conversation (SampleReferringTargets.max_objects). Test: every sentence is
# one sample; `test_dataloader` runs val + testA + testB in one `tools/test.py` run, metrics
# prefixed `refcoco_<split>/` (mmdet's MultiDatasetsEvaluator: one metric per split, each
# scoring its slice of the ConcatDataset).
_base_ = ['image_pipelines.py']

data_root = 'data/coco/'
refcoco_common = dict(
    type='RefCocoReferringDataset',
    data_root=data_root,
    ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p',
    data_prefix=dict(img_path='train2014/'))
refcoco_train = dict(**refcoco_common, split='train', pipeline={{_base_.train_pipeline}})
refcoco_val = dict(
    **refcoco_common, split='val', test_mode=True, pipeline={{_base_.test_pipeline}})
refcoco_testA = dict(
    **refcoco_common, split='testA', test_mode=True, pipeline={{_base_.test_pipeline}})
refcoco_testB = dict(
    **refcoco_common, split='testB', test_mode=True, pipeline={{_base_.test_pipeline}})

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=refcoco_train)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=refcoco_val)
val_evaluator = dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])

test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=[refcoco_val, refcoco_testA, refcoco_testB]))
test_evaluator = dict(
    type='MultiDatasetsEvaluator',
    metrics=[dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])] * 3,
    dataset_prefixes=['refcoco_val', 'refcoco_testA', 'refcoco_testB'])
