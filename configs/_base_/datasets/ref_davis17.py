# Ref-DAVIS17 in the Ref-YouTube-VOS layout (ReferFormer's convert_davis_to_ytvos.py;
# docs/dataset_prepare_video.md):
#   data/davis17/meta_expressions/{train,valid}/meta_expressions.json
#   data/davis17/{train,valid}/JPEGImages/<video>/<frame>.jpg
#   data/davis17/{train,valid}/Annotations/<video>/<frame>.png
# valid (30 videos, 4 expressions per object) is scored offline: J, F, J&F.
_base_ = ['video_pipelines.py']

ref_davis17_root = 'data/davis17/'
ref_davis17_train = dict(
    type='RefDAVISDataset', data_root=ref_davis17_root,
    ann_file='meta_expressions/train/meta_expressions.json',
    data_prefix=dict(img_path='train/JPEGImages/', ann_path='train/Annotations/'),
    pipeline={{_base_.video_train_pipeline}})
ref_davis17_valid = dict(
    type='RefDAVISDataset', data_root=ref_davis17_root,
    ann_file='meta_expressions/valid/meta_expressions.json',
    data_prefix=dict(img_path='valid/JPEGImages/', ann_path='valid/Annotations/'),
    test_mode=True, pipeline={{_base_.video_test_pipeline}})

val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=ref_davis17_valid)
test_dataloader = val_dataloader
val_evaluator = dict(type='VideoJFMetric')
test_evaluator = val_evaluator
