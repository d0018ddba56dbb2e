# ReVOS (VISA release; docs/dataset_prepare_video.md), one folder for both splits:
#   data/revos/JPEGImages/<video>/<frame>.jpg
#   data/revos/meta_expressions_{train,valid}_.json, mask_dict.json, mask_dict_foreground.json
# The metric reports J, F, J&F, A, R for referring (type_id 0), reasoning (1) and overall;
# the foreground masks (robustness R) travel as `foreground_rles`.
_base_ = ['video_pipelines.py']

revos_root = 'data/revos/'
revos_train = dict(type='ReVOSDataset', data_root=revos_root,
                   ann_file='meta_expressions_train_.json', foreground_file=None,
                   pipeline={{_base_.video_train_pipeline}})
revos_valid = dict(type='ReVOSDataset', data_root=revos_root,
                   ann_file='meta_expressions_valid_.json',
                   foreground_file='mask_dict_foreground.json', test_mode=True,
                   pipeline={{_base_.video_test_pipeline}})

train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=revos_train)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=revos_valid)
test_dataloader = val_dataloader
val_evaluator = dict(type='ReVOSMetric')
test_evaluator = val_evaluator
