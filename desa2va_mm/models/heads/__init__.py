from .mask_fusion import MaskFusion
from .sam2_mask_head import SAM2MaskHead
from .sam2_text_head import SAM2TextHead
from .sam2_visual_head import SAM2VisualHead

__all__ = ['SAM2MaskHead', 'SAM2TextHead', 'SAM2VisualHead', 'MaskFusion']
