# Sa2VA-8B baseline (InternVL2.5-8B + SAM-2 hiera-L), test only: MeViS valid_u (offline J&F, Sa2VA
# protocol: per expression mean over frames, then over expressions).
# The network of configs/sa2va/sa2va_8b.py with Sa2VA's video inference (the model base's
# video_tracker, docs/method.md §12): the first 5 frames are key frames (MLLM + [SEG] ->
# text_hidden_fcs -> SAM-2 decoder, written to SAM-2 memory); the other frames are streamed
# and propagated by SAM-2 memory attention with no prompt, logits never set to -1024.
#   bash tools/dist_test.sh configs/sa2va_video/sa2va_8b_mevis_valid_u.py \
#       work_dirs/sa2va_8b/epoch_1.pth 8
# A Sa2VA release folder (Hugging Face layout) is a checkpoint too (docs/real_weights.md §8):
#   python tools/test.py configs/sa2va_video/sa2va_8b_mevis_valid_u.py path/to/Sa2VA-8B
_base_ = ['../_base_/models/sa2va_8b.py', '../_base_/video_test/mevis_valid_u.py']
