# Sa2VA-4B baseline (InternVL2.5-4B + SAM-2 hiera-L), test only: ReVOS valid (J, F, J&F, A, R for
# referring / reasoning / overall).
# The network of configs/sa2va/sa2va_4b.py with Sa2VA's video inference (the model base's
# video_tracker, docs/method.md §12): the first 5 frames are key frames (MLLM + [SEG] ->
# text_hidden_fcs -> SAM-2 decoder, written to SAM-2 memory); the other frames are streamed
# and propagated by SAM-2 memory attention with no prompt, logits never set to -1024.
#   bash tools/dist_test.sh configs/sa2va_video/sa2va_4b_revos.py \
#       work_dirs/sa2va_4b/epoch_1.pth 8
# A Sa2VA release folder (Hugging Face layout) is a checkpoint too (docs/real_weights.md §8):
#   python tools/test.py configs/sa2va_video/sa2va_4b_revos.py path/to/Sa2VA-4B
_base_ = ['../_base_/models/sa2va_4b.py', '../_base_/video_test/revos.py']
