# RefCOCOg (UMD splits: train / val / test)
# at real resolution, Sa2VA's recipe, in mmdet's RefCOCO layout (docs/dataset_prepare.md):
#   data/coco/train2014/*.jpg,
#   data/coco/refcocog/instances.json, data/coco/refcocog/refs(umd).p
# Training: up to 5 referred objects per image, a fresh random sentence each, one
# multi-turn conversation (SampleReferringTargets.max_objects). Test: every sentence is
# one sample; `test_dataloader` runs val + test in one `tools/test.py` run, metrics
# prefixed `refcocog_<split>/` (mmdet's MultiDatasetsEvaluator: one metric per split, each
# scoring its slice of the ConcatDataset).
_base_ = ['image_pipelines.py']

data_root = 'data/coco/'
refcocog_common = dict(
    type='RefCocoReferringDataset',
    data_root=data_root,
    ann_file='refcocog/instances.json',
    split_file='refcocog/refs(umd).p',
    data_prefix=dict(img_path='train2014/'))
refcocog_train = dict(**refcocog_common, split='train', pipeline={{_base_.train_pipeline}})
refcocog_val = dict(
    **refcocog_common, split='val', test_mode=True, pipeline={{_base_.test_pipeline}})
refcocog_test = dict(
    **refcocog_common, split='test', test_mode=True, pipeline={{_base_.test_pipeline}})

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=refcocog_train)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=refcocog_val)
val_evaluator = dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])

test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=[refcocog_val, refcocog_test]))
test_evaluator = dict(
    type='MultiDatasetsEvaluator',
    metrics=[dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])] * 2,
    dataset_prefixes=['refcocog_val', 'refcocog_test'])
