# Sa2VA's training mix (docs/design.md §9): RefCOCO / RefCOCO+ / RefCOCOg, gRefCOCO, LLaVA-665k
# image QA, video QA, MeViS, ReVOS and Ref-YouTube-VOS in one ConcatDataset, each repeated
# per epoch as in Sa2VA-style released configs (`mix_repeats`; 0 leaves a dataset out).
# Layouts: docs/dataset_prepare.md and docs/dataset_prepare_video.md.
#
# Batching: image, QA and video samples can share a batch only with the model's
# `data_preprocessor=dict(type='VideoReferringDataPreprocessor')` (images become 1-frame
# videos); with `ReferringDataPreprocessor` keep the video sets at 0 (images + QA batch
# together). Validation: RefCOCO val (cIoU / gIoU).
_base_ = ['image_pipelines.py', 'video_pipelines.py']

coco_root = 'data/coco/'
# Epoch repeats as in Sa2VA-style released configs: each RefCOCO set listed 4 times, ReVOS
# repeats=10, MeViS / Ref-YouTube-VOS repeats=4 (an earlier config used 1 for these two);
# the rest once.
mix_repeats = dict(refcoco=4, refcoco_plus=4, refcocog=4, grefcoco=1, llava=1, video_qa=1,
                   mevis=4, revos=10, ref_ytvos=4)


def _repeat(name, dataset):
    times = mix_repeats[name]
    return [] if times == 0 else [dataset if times == 1 else dict(
        type='RepeatDataset', times=times, dataset=dataset)]


refcoco_train = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
refcoco_plus_train = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcoco+/instances.json',
    split_file='refcoco+/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
refcocog_train = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcocog/instances.json',
    split_file='refcocog/refs(umd).p', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
grefcoco_train = dict(
    type='GRefCocoDataset', data_root=coco_root, ann_file='grefcoco/instances.json',
    split_file='grefcoco/grefs(unc).json', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
llava_train = dict(
    type='LLaVAQADataset', data_root='data/llava/', ann_file='llava_v1_5_mix665k.json',
    data_prefix=dict(img_path='images/'), pipeline={{_base_.qa_train_pipeline}})
video_qa_train = dict(
    type='LLaVAQADataset', data_root='data/video_chat/', ann_file='video_chat.json',
    data_prefix=dict(video_path='videos/'), pipeline={{_base_.video_qa_train_pipeline}})
mevis_train = dict(type='MeViSDataset', data_root='data/mevis/train/',
                   pipeline={{_base_.video_train_pipeline}})
revos_train = dict(type='ReVOSDataset', data_root='data/revos/',
                   ann_file='meta_expressions_train_.json', foreground_file=None,
                   pipeline={{_base_.video_train_pipeline}})
ref_ytvos_train = dict(
    type='RefYTVOSDataset', data_root='data/ref_ytvos/',
    ann_file='meta_expressions/train/meta_expressions.json',
    data_prefix=dict(img_path='train/JPEGImages/', ann_path='train/Annotations/'),
    pipeline={{_base_.video_train_pipeline}})

mix_datasets = (
    _repeat('refcoco', refcoco_train) + _repeat('refcoco_plus', refcoco_plus_train) +
    _repeat('refcocog', refcocog_train) + _repeat('grefcoco', grefcoco_train) +
    _repeat('llava', llava_train) + _repeat('video_qa', video_qa_train) +
    _repeat('mevis', mevis_train) + _repeat('revos', revos_train) +
    _repeat('ref_ytvos', ref_ytvos_train))
del _repeat

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # Video sets carry metainfo `dataset_type` that image sets lack; mmdet's ConcatDataset
    # fails on a key missing from its first member unless the key is ignored.
    dataset=dict(type='ConcatDataset', datasets=mix_datasets, ignore_keys=['dataset_type']))

refcoco_val = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    split='val', test_mode=True, pipeline={{_base_.test_pipeline}})
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=refcoco_val)
val_evaluator = dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])
