# ReasonSeg (LISA) at real resolution (docs/dataset_prepare.md):
#   data/reason_seg/ReasonSeg/{train,val,test}/<name>.jpg + <name>.json (LabelMe polygons)
# "ignore" polygons (255 in LISA's label map) are excluded from cIoU / gIoU: the test
# pipeline passes them to ReferringSegMetric as `gt_ignore_masks`. Test: the first query of
# each image (LISA's ValDataset); training draws any of its queries each iteration.
_base_ = ['image_pipelines.py']

data_root = 'data/reason_seg/'
reason_seg_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    {{_base_.image_tiling}},
    {{_base_.sam_resize}},
    dict(type='LoadReferringMasks', with_ignore=True),
    dict(type='BuildReferringConversation', mode='test'),
    {{_base_.tokenize}},
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                    'gt_masks', 'gt_ignore_masks', 'is_sentence')),
]
reason_seg_train = dict(
    type='ReasonSegDataset', data_root=data_root,
    data_prefix=dict(img_path='ReasonSeg/train/'), pipeline={{_base_.train_pipeline}})
reason_seg_val = dict(
    type='ReasonSegDataset', data_root=data_root, data_prefix=dict(img_path='ReasonSeg/val/'),
    test_mode=True, pipeline=reason_seg_test_pipeline)
reason_seg_test = dict(
    type='ReasonSegDataset', data_root=data_root,
    data_prefix=dict(img_path='ReasonSeg/test/'), test_mode=True,
    pipeline=reason_seg_test_pipeline)

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=reason_seg_train)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=reason_seg_val)
val_evaluator = dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=[reason_seg_val, reason_seg_test]))
test_evaluator = dict(
    type='MultiDatasetsEvaluator',
    metrics=[dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])] * 2,
    dataset_prefixes=['reason_seg_val', 'reason_seg_test'])
