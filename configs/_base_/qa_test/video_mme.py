# Test only on Video-MME (its evaluation JSON + videos, docs/qa_eval.md): accuracy and per
# duration (short / medium / long), letters read by Video-MME's own script rule, prefixed
# video_mme/. Frames: 5, one 448 tile each, as the model's video chat.
_base_ = ['qa_common.py']

video_mcq_pipeline = [
    dict(type='LoadQAVideoFrames', num_frames=5, tile_size=448),
    {{_base_.tokenize}},
    {{_base_.sam_resize}},
    dict(type='PackReferringInputs', meta_keys={{_base_.mcq_meta_keys}}),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoMMEDataset', data_root='data/video_mme/',
                 ann_file='video_mme.json', data_prefix=dict(video_path='videos/'),
                 test_mode=True, pipeline=video_mcq_pipeline))
test_evaluator = dict(type='MultipleChoiceMetric', answer_extraction='video_mme',
                      prefix='video_mme')
