# Everything a real-size run shares besides the model: Sa2VA's training mix
# (datasets/sa2va_mix.py), the RefCOCO val / testA / testB test set (cIoU / gIoU, one metric
# per split), Sa2VA's 1-epoch recipe (schedules/sa2va_1epoch.py) and checkpoints that hold
# only what trained (TrainableCheckpointHook: frozen InternVL / SAM-2 weights come from the
# model's `pretrained` paths). The data pipelines take the model's tokenizer and chat
# template (ModelTokenizerHook, default_runtime.py).
_base_ = ['datasets/sa2va_mix.py', 'schedules/sa2va_1epoch.py', 'default_runtime.py']

refcoco_test_common = dict(
    type='RefCocoReferringDataset', data_root='data/coco/', ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    test_mode=True, pipeline={{_base_.test_pipeline}})
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=[
        dict(**refcoco_test_common, split='val'),
        dict(**refcoco_test_common, split='testA'),
        dict(**refcoco_test_common, split='testB')]))
test_evaluator = dict(
    type='MultiDatasetsEvaluator',
    metrics=[dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])] * 3,
    dataset_prefixes=['refcoco_val', 'refcoco_testA', 'refcoco_testB'])

default_hooks = dict(
    logger=dict(interval=10),
    # One epoch: the phase's checkpoint is work_dirs/<config>/epoch_1.pth.
    checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=1, save_last=True))
custom_hooks = [dict(type='TrainableCheckpointHook')]
log_processor = dict(by_epoch=True)

# Data faults (docs/reliability.md): a sample that fails to load is logged with its file and
# mix member and replaced; more than max_bad_samples per loader process stop the run (0:
# stop at the first). No batch for `timeout` s fails the run naming the stuck sample (below
# the 10 min collective timeout, so the stuck rank reports first) instead of hanging it.
train_dataloader = dict(timeout=300, dataset=dict(
    _delete_=True, type='SkipBadSamples', max_bad_samples=100,
    dataset={{_base_.train_dataloader.dataset}}))
