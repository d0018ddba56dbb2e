# Tiny Sa2VA baseline for video: the tiny Sa2VA model (one [SEG] -> one SAM-2 decoder) with
# the video batching and SAM-2 memory tracking of desa2va_tiny_video.py, so the two tiny
# video models differ only in the seg head. From scratch nothing is pretrained: SAM-2's
# memory modules train ('memory' mode: frame 0 is the key frame, frames 1..T-1 are tracked
# through memory with losses on every frame).
_base_ = ['sa2va_tiny.py']

model = dict(
    # Word list of both synthetic generators (RefCOCO + MeViS motion words).
    mllm=dict(tokenizer=dict(type='TinyWordTokenizer', vocabulary='synthetic_mevis')),
    data_preprocessor=dict(type='VideoReferringDataPreprocessor'),
    grounding_encoder=dict(freeze_memory=False),
    video_train=dict(mode='memory', track_loss_weight=1.0))
