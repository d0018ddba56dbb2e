# Test only on MeViS valid (scored online: writes Annotations/<video>/<exp_id>/<frame>.png +
# submission.zip): mevis_valid_u.py with the online split (no masks) and the submission
# writer in place of the metric.
# A test-only video leaf adds its model (configs/desa2va_video/):
#   _base_ = ['../_base_/models/desa2va_1b.py', '../_base_/video_test/mevis_valid.py']
#   model = dict(train_phase='fusion')
_base_ = ['mevis_valid_u.py']

test_dataloader = dict(dataset=dict(data_root='data/mevis/valid/', mask_file=None))
test_evaluator = dict(_delete_=True, type='VideoSubmissionWriter',
                      out_dir='work_dirs/mevis_valid_submission', zip=True)
