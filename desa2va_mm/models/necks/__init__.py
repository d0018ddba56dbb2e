from .sa2va_projection import Sa2VAProjection

__all__ = ['Sa2VAProjection']
