# Test only on MME (the release folder MME_Benchmark_release_version/, docs/qa_eval.md):
# acc, acc+ and score per subtask, perception and cognition sums, prefixed mme/.
_base_ = ['qa_common.py']

mme_pipeline = [
    dict(type='LoadImageFromFile'),
    {{_base_.image_tiling}},
    {{_base_.tokenize}},
    {{_base_.sam_resize}},
    dict(type='PackReferringInputs', meta_keys={{_base_.mme_meta_keys}}),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MMEDataset', data_root='data/mme/MME_Benchmark_release_version/',
                 test_mode=True, pipeline=mme_pipeline))
test_evaluator = dict(type='MMEMetric', prefix='mme')
