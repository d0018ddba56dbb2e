# Test only on MVBench (video_chat2's release: json/<task>.json + video/<task folder>/,
# docs/qa_eval.md): accuracy over all questions, per task (category/<task>) and the mean of
# the 20 task accuracies (category_mean), letters read by MVBench's own check_ans, prefixed
# mvbench/. Frames: 16, sampled as the official evaluation samples them (segment centres of
# the question's clip), one 448 tile each.
_base_ = ['qa_common.py']

mvbench_num_frames = 16
mvbench_pipeline = [
    dict(type='LoadMVBenchFrames', num_frames=mvbench_num_frames, tile_size=448),
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
    dataset=dict(type='MVBenchDataset', data_root='data/mvbench/',
                 data_prefix=dict(json_path='json/', video_path='video/'),
                 test_mode=True, pipeline=mvbench_pipeline))
test_evaluator = dict(type='MultipleChoiceMetric', answer_extraction='mvbench',
                      category_mean=True, prefix='mvbench')
