"""Model wrappers (registered in ``desa2va_mm.registry.MODEL_WRAPPERS``)."""
from .device_agnostic_ddp import DeviceAgnosticDDP

__all__ = ['DeviceAgnosticDDP']
