from .sam2_mask_head import SAM2MaskHead

__all__ = ['SAM2MaskHead']
