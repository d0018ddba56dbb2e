"""The text branch's SAM-2 decoder ``D_t``."""
from desa2va_mm.registry import MODELS
from .sam2_mask_head import SAM2MaskHead


@MODELS.register_module()
class SAM2TextHead(SAM2MaskHead):
    """``D_t``: decodes ``[pad; h_t]`` (phase 1: ``[pad; e]``) against the image features.

    Pre-trained in phase 1 on the text anchor ``e`` (a point-level prompt from the
    ground-truth expression), then frozen, so phase 2 teaches ``h_t`` to speak its
    language. Same interface as :class:`SAM2MaskHead`.
    """
