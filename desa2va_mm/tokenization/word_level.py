"""The offline word-level tokenizer behind :func:`TinyWordTokenizer` and the stand-in
:func:`InternVLTokenizer`.

Word-level because byte-level BPE made the synthetic sequences 2.3x longer and steps ~5x
slower (docs/design.md); it needs no download. Specials come first, then the sorted
words, then ``appended`` tokens, so a vocabulary that extends another keeps its ids.
"""
from functools import lru_cache
from typing import Tuple

from .special_tokens import CHAT_TOKENS, GROUNDING_TOKENS, IMAGE_TOKENS

__all__ = ['TEMPLATE_WORDS', 'NUM_LEADING_SPECIALS', 'build_word_tokenizer']

#: Words of the prompt / answer templates (docs/design.md §9) and the Qwen2 system roles,
#: so the tiny tokenizer never maps template text to ``[UNK]``.
TEMPLATE_WORDS = (
    'system', 'user', 'assistant', 'you', 'are', 'a', 'helpful', 'please', 'segment',
    'in', 'this', 'image', 'video', 'sure', 'it', 'is', 'the', 'segmentation', 'result',
    'can', 'what', 'respond', 'with', 'mask', 'output', 'and', 'of', 'to', 'yes', 'no',
    'there', 'not', 'here', 'that', 'which', 'object', 'shape', 'shapes', 'frame',
    '.', ',', '?', '!', ':', "'", '"', '-', '(', ')', '[', ']', '<', '>', '/', '|',
)

_LEADING_SPECIALS = ('[PAD]', '[UNK]', *CHAT_TOKENS, *IMAGE_TOKENS, *GROUNDING_TOKENS)
#: Tokens :func:`build_word_tokenizer` always puts first (ids 0 .. N-1).
NUM_LEADING_SPECIALS = len(_LEADING_SPECIALS)


@lru_cache(maxsize=8)
def build_word_tokenizer(words: Tuple[str, ...], model_max_length: int,
                         appended: Tuple[str, ...] = ()):
    """Build a word-level ``PreTrainedTokenizerFast`` (cached per arguments).

    Args:
        words: Vocabulary words; sorted and de-duplicated after the specials.
        model_max_length: Longest sequence the tokenizer reports as valid.
        appended: Tokens after the sorted words, in order (ids of a smaller vocabulary
            stay valid).

    Returns:
        transformers.PreTrainedTokenizerFast: lower-cases, splits words and punctuation,
        maps unknown words to ``[UNK]``; chat, image and grounding tokens are special.
        Marked ``desa2va_stand_in = True``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {}
    # ``appended`` words come after the sorted ones: a vocabulary that extends another one
    # keeps every id of the smaller one (a checkpoint trained with it stays valid).
    for token in list(_LEADING_SPECIALS) + sorted(set(words)) + list(appended):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token='[UNK]'))
    backend.normalizer = normalizers.Lowercase()
    # \w+ | [^\w\s]+ : words and punctuation runs; whitespace (incl. newlines) is dropped.
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token='[PAD]',
        unk_token='[UNK]',
        eos_token='<|im_end|>',
        bos_token=None,
        model_max_length=model_max_length,
        padding_side='right',
    )
    tokenizer.add_special_tokens(
        {'additional_special_tokens': [*CHAT_TOKENS, *IMAGE_TOKENS, *GROUNDING_TOKENS]})
    # Marks an offline stand-in: InternVLMLLM refuses it beside pretrained weights.
    tokenizer.desa2va_stand_in = True
    return tokenizer
