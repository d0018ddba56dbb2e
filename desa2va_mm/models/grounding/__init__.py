from .sam2_grounding import SAM2Grounding
from .sam2_video_tracker import SAM2MemoryBank, SAM2VideoTracker

__all__ = ['SAM2Grounding', 'SAM2MemoryBank', 'SAM2VideoTracker']
