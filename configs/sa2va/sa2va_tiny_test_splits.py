# Sa2VA tiny tested on the synthetic val, testA and testB splits in one run, each split's
# metrics prefixed by its name (mmdet's MultiDatasetsEvaluator over a ConcatDataset):
#   python tools/test.py configs/sa2va/sa2va_tiny_test_splits.py work_dirs/sa2va_tiny/iter_3000.pth
_base_ = ['sa2va_tiny.py']

split_common = dict(
    type='RefCocoReferringDataset',
    data_root='data/synthetic_refcoco/',
    ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p',
    data_prefix=dict(img_path='train2014/'),
    test_mode=True,
    pipeline={{_base_.test_pipeline}})
test_splits = ['val', 'testA', 'testB']
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dict(**split_common, split=s) for s in test_splits]))
test_evaluator = dict(
    _delete_=True,
    type='MultiDatasetsEvaluator',
    metrics=[dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU', 'mIoU'])] * 3,
    dataset_prefixes=test_splits)
