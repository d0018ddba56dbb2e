# Test only on MMBench dev (English), VLMEvalKit's MMBench_DEV_EN.tsv with its circular
# copies (docs/qa_eval.md): circular accuracy, per-row accuracy and per category,
# prefixed mmbench_dev_en/. Images are base64 in the TSV (decoded by the dataset: no
# loading step).
_base_ = ['qa_common.py']

mcq_pipeline = [
    {{_base_.image_tiling}},
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
    dataset=dict(type='MMBenchDataset', data_root='data/mmbench/',
                 ann_file='MMBench_DEV_EN.tsv', test_mode=True, pipeline=mcq_pipeline))
test_evaluator = dict(type='MultipleChoiceMetric', prefix='mmbench_dev_en')
