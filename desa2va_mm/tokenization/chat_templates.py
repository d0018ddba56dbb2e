"""Chat templates of Sa2VA's recipes (xtuner's ``PROMPT_TEMPLATE`` strings).

Sa2VA trains InternVL2.5-1B on ``qwen_chat`` (our ``qwen2``), 8B on ``internlm2_chat``
(``internlm2``) and 4B on ``phi3_chat`` (``phi3``), although 4B's LLM is Qwen2.5-3B: its
markers ``<|user|>``, ``<|end|>``, ``<|assistant|>`` are no tokens of that vocabulary and
are tokenised as plain text, as in Sa2VA's training.

Each template is a few strings; :class:`TokenizeConversation` tokenises the pieces
separately so that only the assistant's answers (and their end marker) are supervised.
"""
from dataclasses import dataclass, field
from typing import Dict, Tuple


@dataclass(frozen=True)
class ChatTemplate:
    """Pieces of a chat format.

    ``system`` wraps the optional system prompt; a user turn is
    ``user_prefix + text + user_suffix`` followed by ``assistant_prefix``; an answer is
    followed by ``assistant_suffix`` (supervised: it teaches the model to stop) and
    ``separator`` (not supervised) before the next turn.
    """
    system: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    separator: str
    stop_words: Tuple[str, ...] = field(default_factory=tuple)


_IM = ChatTemplate(
    system='<|im_start|>system\n{system}<|im_end|>\n',
    user_prefix='<|im_start|>user\n',
    user_suffix='<|im_end|>\n',
    assistant_prefix='<|im_start|>assistant\n',
    assistant_suffix='<|im_end|>',
    separator='\n',
    stop_words=('<|im_end|>', '<|endoftext|>'),
)

#: xtuner's ``phi3_chat``: SYSTEM ``<|system|>\n{system}<|end|>\n``, INSTRUCTION
#: ``<|user|>\n{input}<|end|>\n<|assistant|>\n``, SUFFIX ``<|end|>`` (the end of an answer,
#: supervised), SEP ``\n``, STOP_WORDS ``['<|end|>']``.
_PHI3 = ChatTemplate(
    system='<|system|>\n{system}<|end|>\n',
    user_prefix='<|user|>\n',
    user_suffix='<|end|>\n',
    assistant_prefix='<|assistant|>\n',
    assistant_suffix='<|end|>',
    separator='\n',
    stop_words=('<|end|>', ),
)

#: Qwen2 / Qwen2.5 (InternVL2.5-1B / 4B) and InternLM2 (InternVL2.5-8B) share the ChatML form
#: (Sa2VA's ``qwen_chat`` / ``internlm2_chat``); ``phi3`` is Sa2VA-4B's training template.
CHAT_TEMPLATES: Dict[str, ChatTemplate] = {
    'qwen2': _IM,
    'internlm2': _IM,
    'phi3': _PHI3,
}


def get_chat_template(name: str) -> ChatTemplate:
    """The template called ``name`` (a key of :data:`CHAT_TEMPLATES`)."""
    if name not in CHAT_TEMPLATES:
        raise ValueError(f'Unknown chat template {name!r}; options: {sorted(CHAT_TEMPLATES)}')
    return CHAT_TEMPLATES[name]
