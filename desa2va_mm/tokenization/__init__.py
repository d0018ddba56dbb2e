"""Tokenizers, special tokens and chat templates (registry ``TOKENIZERS``).

The data pipeline (prompt tokenisation) and the model (``[SEG]`` id, vocabulary size)
build the tokenizer from the same config dict, so both import it from here, a layer below
``datasets`` and ``models`` that imports neither:

* ``HFPretrainedTokenizer``: a Hugging Face tokenizer folder (InternVL / Qwen2 / InternLM2),
  loaded without remote code unless the user opts in, with the grounding tokens added.
* ``InternVLTokenizer``: the real-size configs' tokenizer, the checkpoint's own or an
  offline stand-in of its published size.
* ``TinyWordTokenizer``: an offline word-level tokenizer for the tiny configs.
* :mod:`.chat_templates`: the chat formats (pieces tokenised separately so that only the
  answers are supervised); :mod:`.special_tokens`: ``[SEG]``, image and chat markers.
"""
from .builder import build_tokenizer
from .chat_templates import CHAT_TEMPLATES, ChatTemplate, get_chat_template
from .hf_pretrained_tokenizer import HFPretrainedTokenizer
from .internvl_tokenizer import InternVLTokenizer
from .special_tokens import (CHAT_TOKENS, GROUNDING_TOKENS, IMAGE_TOKENS, IMG_CONTEXT_TOKEN,
                             IMG_END_TOKEN, IMG_START_TOKEN, SEG_TOKEN)
from .tiny_word_tokenizer import VOCABULARIES, TinyWordTokenizer
from .word_level import TEMPLATE_WORDS, build_word_tokenizer

__all__ = [
    'build_tokenizer', 'ChatTemplate', 'CHAT_TEMPLATES', 'get_chat_template',
    'HFPretrainedTokenizer', 'InternVLTokenizer', 'TinyWordTokenizer', 'VOCABULARIES',
    'SEG_TOKEN', 'IMG_START_TOKEN', 'IMG_END_TOKEN', 'IMG_CONTEXT_TOKEN', 'GROUNDING_TOKENS',
    'IMAGE_TOKENS', 'CHAT_TOKENS', 'TEMPLATE_WORDS', 'build_word_tokenizer'
]
