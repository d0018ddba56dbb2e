# DeSa2VA at real size on the InternVL3-8B backbone (sa2va_internvl3_8b.py: InternVL3-8B
# + SAM-2 hiera-L): [SEG] -> W_t / W_v -> text and visual SAM-2 decoders (both initialised
# from SAM-2's decoder), fusion gate, adversarial and CLUB losses (docs/method.md §2-10).
_base_ = ['sa2va_internvl3_8b.py', 'desa2va_real_size_heads.py']

model = {{_base_.desa2va_heads}}
