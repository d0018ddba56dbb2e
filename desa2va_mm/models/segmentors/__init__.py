from .desa2va import DeSa2VA

__all__ = ['DeSa2VA']
