from .sam2_grounding import SAM2Grounding

__all__ = ['SAM2Grounding']
