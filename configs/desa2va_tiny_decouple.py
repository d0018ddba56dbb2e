# DeSa2VA tiny, phase 2 (decoupling). Until the decoupling neck, adversarial / CLUB losses
# and the dual heads land (issue #3), this trains the Sa2VA-style tiny model.
_base_ = ['sa2va_tiny.py']
