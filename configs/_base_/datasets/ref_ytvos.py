# Ref-YouTube-VOS (docs/dataset_prepare_video.md):
#   data/ref_ytvos/meta_expressions/{train,valid}/meta_expressions.json
#   data/ref_ytvos/{train,valid}/JPEGImages/<video>/<frame>.jpg
#   data/ref_ytvos/train/Annotations/<video>/<frame>.png   (palette PNG, pixel = obj_id)
# `valid` has no annotations: it is scored by the online server from the submission writer's
# Annotations/<video>/<exp_id>/<frame>.png (zip the Annotations folder).
_base_ = ['video_pipelines.py']

ref_ytvos_root = 'data/ref_ytvos/'
ref_ytvos_train = dict(
    type='RefYTVOSDataset', data_root=ref_ytvos_root,
    ann_file='meta_expressions/train/meta_expressions.json',
    data_prefix=dict(img_path='train/JPEGImages/', ann_path='train/Annotations/'),
    pipeline={{_base_.video_train_pipeline}})
ref_ytvos_valid = dict(
    type='RefYTVOSDataset', data_root=ref_ytvos_root,
    ann_file='meta_expressions/valid/meta_expressions.json',
    data_prefix=dict(img_path='valid/JPEGImages/'), test_mode=True,
    pipeline={{_base_.video_test_pipeline}})

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=ref_ytvos_train)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=ref_ytvos_valid)
test_evaluator = dict(type='VideoSubmissionWriter', out_dir='work_dirs/ref_ytvos_submission',
                      zip=True)
