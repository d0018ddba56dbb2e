# Tiny DeSa2VA for video: the tiny DeSa2VA model + video batching and SAM-2 memory tracking.
# From scratch nothing is pretrained, so unlike the real configs (frozen pretrained SAM-2
# memory, Sa2VA's per-frame training) the memory modules train here ('memory' mode: frame 0
# is the key frame, frames 1..T-1 are tracked through memory with losses on every frame).
# Tracking: desa2va_tiny.py's video_tracker (Sa2VA's video mode, docs/method.md §12).
_base_ = ['desa2va_tiny.py']

model = dict(
    # Word list of both synthetic generators (RefCOCO + MeViS motion words).
    mllm=dict(tokenizer=dict(type='TinyWordTokenizer', vocabulary='synthetic_mevis')),
    data_preprocessor=dict(type='VideoReferringDataPreprocessor'),
    grounding_encoder=dict(freeze_memory=False),
    video_train=dict(mode='memory', track_loss_weight=1.0),
    train_phase='decouple',
    frozen_modules=[])
