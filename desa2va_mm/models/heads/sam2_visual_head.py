"""The visual branch's SAM-2 decoder ``D_v``."""
from desa2va_mm.registry import MODELS
from .sam2_mask_head import SAM2MaskHead


@MODELS.register_module()
class SAM2VisualHead(SAM2MaskHead):
    """``D_v``: decodes ``[pad; h_v]`` and, when re-prompting, the fused mask as a dense
    prompt (``M_r = D_v(F, [pad; h_v], P(clamp(M_f)))``, docs/method.md §6).

    It is also the decoder that boxes / points prompt in the ``projects/`` examples. Same
    interface as :class:`SAM2MaskHead`.
    """
