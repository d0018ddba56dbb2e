# Test only on MeViS valid_u (offline J&F, Sa2VA protocol: per expression mean over frames,
# then over expressions): the dataset base's test loader and metric, MMEngine's runtime and
# a test loop; no training or validation loop.
# A test-only video leaf adds its model (configs/desa2va_video/):
#   _base_ = ['../_base_/models/desa2va_1b.py', '../_base_/video_test/mevis_valid_u.py']
#   model = dict(train_phase='fusion')
_base_ = ['../datasets/mevis.py', '../default_runtime.py']

# The dataset base's training and validation parts are unset here, in one file per dataset:
# MMEngine refuses a key that two sibling bases both define, so no base shared by every
# dataset can unset them.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict(type='TestLoop')
