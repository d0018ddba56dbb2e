"""High-level inference APIs: :class:`DeSa2VAInferencer` and the user-input helpers it
and the demos share (:mod:`.inputs`)."""
from . import inputs
from .desa2va_inferencer import (DeSa2VAInferencer, default_test_pipeline,
                                 derive_video_test_pipeline)
from .gcg import grounded_caption, split_grounded_answer

__all__ = ['DeSa2VAInferencer', 'default_test_pipeline', 'derive_video_test_pipeline',
           'inputs', 'grounded_caption', 'split_grounded_answer']
