from .internvl_mllm import InternVLMLLM
from .internvl_tokenizer import InternVLTokenizer
from .tokenizers import (GROUNDING_TOKENS, IMAGE_TOKENS, SEG_TOKEN, HFPretrainedTokenizer,
                         TinyWordTokenizer, build_tokenizer)

__all__ = ['InternVLMLLM', 'TinyWordTokenizer', 'HFPretrainedTokenizer', 'build_tokenizer',
           'SEG_TOKEN', 'GROUNDING_TOKENS', 'IMAGE_TOKENS', 'InternVLTokenizer']
