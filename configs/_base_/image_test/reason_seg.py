# Test only on ReasonSeg val / test (LISA: the first query of each image): gIoU, cIoU per
# split, ignore regions left out, prefixed reason_seg_<split>/.
# The dataset base's test loader and metrics, MMEngine's runtime and a test loop; no
# training or validation loop. Prompts: Sa2VA's evaluation question (image_pipelines.py).
# A test-only image leaf adds its model (configs/desa2va_image_test/,
# configs/sa2va_image_test/):
#   _base_ = ['../_base_/models/desa2va_1b.py', '../_base_/image_test/reason_seg.py']
#   model = dict(train_phase='fusion')
_base_ = ['../datasets/reason_seg.py', '../default_runtime.py']

# The dataset base's training and validation parts are unset here, in one file per dataset:
# MMEngine refuses a key that two sibling bases both define, so no base shared by every
# dataset can unset them.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict(type='TestLoop')
