"""Segmentation heads: ``[SEG]`` hidden states -> SAM-2 prompts -> masks, and their losses.

One interface (:class:`BaseSegHead`), two architectures: :class:`Sa2VASegHead` (the
baseline's ``text_hidden_fcs`` + one SAM-2 decoder) and :class:`DecoupledSegHead`
(DeSa2VA: decoupler neck, text and visual SAM-2 decoders, fusion, re-prompting,
adversarial and CLUB losses). Both return a :class:`SegDecodeResult`.
"""
from .base_seg_head import BaseSegHead, sample_points_in_masks, segmentation_losses
from .decoupled_seg_head import DecoupledSegHead
from .sa2va_seg_head import Sa2VASegHead
from .seg_decode_result import BRANCHES, SegDecodeResult

__all__ = ['BaseSegHead', 'DecoupledSegHead', 'Sa2VASegHead', 'SegDecodeResult', 'BRANCHES',
           'sample_points_in_masks', 'segmentation_losses']
