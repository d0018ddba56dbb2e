from .build_referring_conversation import (DEFAULT_ANSWERS, DEFAULT_QUESTIONS,
                                           IMAGE_PLACEHOLDER, BuildReferringConversation)
from .chat_templates import CHAT_TEMPLATES, ChatTemplate, get_chat_template
from .internvl_tiling import InternVLTiling, dynamic_tiles
from .pack_referring_inputs import PackReferringInputs
from .sample_referring_targets import SampleReferringTargets
from .tokenize_conversation import TokenizeConversation

__all__ = [
    'BuildReferringConversation', 'InternVLTiling', 'PackReferringInputs',
    'SampleReferringTargets', 'TokenizeConversation', 'ChatTemplate', 'CHAT_TEMPLATES',
    'get_chat_template', 'dynamic_tiles', 'IMAGE_PLACEHOLDER', 'DEFAULT_QUESTIONS',
    'DEFAULT_ANSWERS'
]
