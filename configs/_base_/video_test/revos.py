# Test only on ReVOS valid (J, F, J&F, A, R for referring / reasoning / overall): the
# dataset base's test loader and metric, MMEngine's runtime and a test loop; no training or
# validation loop.
# A test-only video leaf adds its model (configs/desa2va_video/):
#   _base_ = ['../_base_/models/desa2va_1b.py', '../_base_/video_test/revos.py']
#   model = dict(train_phase='fusion')
_base_ = ['../datasets/revos.py', '../default_runtime.py']

# The dataset base's training and validation parts are unset here, in one file per dataset:
# MMEngine refuses a key that two sibling bases both define, so no base shared by every
# dataset can unset them.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict(type='TestLoop')
