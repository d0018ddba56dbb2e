"""Helpers shared by the models' parts (functions, nothing registered)."""
from .visual_prompts import image_and_region_tokens, region_features

__all__ = ['image_and_region_tokens', 'region_features']
