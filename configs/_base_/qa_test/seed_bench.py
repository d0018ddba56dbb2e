# Test only on SEED-Bench's image dimensions (SEED-Bench.json + SEED-Bench-image/,
# docs/qa_eval.md): accuracy and per dimension, prefixed seed_bench_img/.
_base_ = ['qa_common.py']

mcq_pipeline = [
    dict(type='LoadImageFromFile'),
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
    dataset=dict(type='SEEDBenchDataset', data_root='data/seed_bench/',
                 ann_file='SEED-Bench.json', data_prefix=dict(img_path='SEED-Bench-image/'),
                 test_mode=True, pipeline=mcq_pipeline))
test_evaluator = dict(type='MultipleChoiceMetric', prefix='seed_bench_img')
