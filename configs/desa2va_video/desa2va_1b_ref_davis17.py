# DeSa2VA-1B (InternVL2.5-1B + SAM-2 hiera-L), test only: Ref-DAVIS17 valid (offline J&F).
# The network of configs/desa2va/desa2va_1b_fusion.py (phase 3) with its video inference: the
# first 5 frames are key frames (MLLM + both heads + fusion + re-prompt, written to SAM-2
# memory); the other frames are streamed and tracked by SAM-2 memory attention.
#   bash tools/dist_test.sh configs/desa2va_video/desa2va_1b_ref_davis17.py \
#       work_dirs/desa2va_1b_fusion/epoch_1.pth 8
# Key frames spread over the video:
#   --cfg-options test_dataloader.dataset.pipeline.1.key_frame_strategy=uniform
_base_ = ['../_base_/models/desa2va_1b.py', '../_base_/video_test/ref_davis17.py']

model = dict(train_phase='fusion')
