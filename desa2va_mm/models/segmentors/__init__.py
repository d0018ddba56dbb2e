from .desa2va import DeSa2VA
from .sam2_click_pretrainer import SAM2ClickPretrainer

__all__ = ['DeSa2VA', 'SAM2ClickPretrainer']
