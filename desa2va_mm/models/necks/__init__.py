from .sa2va_projection import Sa2VAProjection
from .seg_token_decoupler import SegTokenDecoupler

__all__ = ['Sa2VAProjection', 'SegTokenDecoupler']
