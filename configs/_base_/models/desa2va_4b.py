# DeSa2VA at real size on the Sa2VA-4B backbone (sa2va_4b.py: InternVL2.5-4B + SAM-2
# hiera-L): [SEG] -> W_t / W_v (SegTokenDecoupler) -> text and visual SAM-2 decoders (both
# initialised from SAM-2's decoder), per-pixel fusion gate, adversarial (gradient
# reversal) and CLUB losses (docs/method.md §2-10). Phase leaf configs pick train_phase and
# frozen_modules; every term is switchable with --cfg-options. The chat template is
# sa2va_4b.py's (phi3, Sa2VA-4B's recipe): DeSa2VA trains on Sa2VA's data and prompts.
_base_ = ['sa2va_4b.py', 'desa2va_real_size_heads.py']

model = {{_base_.desa2va_heads}}
