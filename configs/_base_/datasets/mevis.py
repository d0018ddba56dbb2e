# MeViS (docs/dataset_prepare_video.md):
#   data/mevis/{train,valid_u,valid}/JPEGImages/<video>/<frame>.jpg
#   data/mevis/{train,valid_u,valid}/meta_expressions.json
#   data/mevis/{train,valid_u}/mask_dict.json      (valid has none: scored online)
# Validation / test on valid_u (offline J&F, Sa2VA protocol); for the online `valid` split use
# `mevis_valid` with the submission writer (Annotations/<video>/<exp_id>/<frame>.png).
_base_ = ['video_pipelines.py']

mevis_root = 'data/mevis/'
mevis_train = dict(type='MeViSDataset', data_root=mevis_root + 'train/',
                   pipeline={{_base_.video_train_pipeline}})
mevis_valid_u = dict(type='MeViSDataset', data_root=mevis_root + 'valid_u/', test_mode=True,
                     pipeline={{_base_.video_test_pipeline}})
mevis_valid = dict(type='MeViSDataset', data_root=mevis_root + 'valid/', mask_file=None,
                   test_mode=True, pipeline={{_base_.video_test_pipeline}})

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=mevis_train)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=mevis_valid_u)
test_dataloader = val_dataloader
val_evaluator = dict(type='VideoJFMetric')
test_evaluator = val_evaluator
