"""Model components (importing registers them in ``desa2va_mm``'s MODELS)."""
from .data_preprocessors import *  # noqa: F401,F403
from .grounding import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .mllm import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .seg_heads import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
from .wrappers import *  # noqa: F401,F403
