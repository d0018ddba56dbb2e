"""The tokenizer of the real-size configs: the checkpoint's own, or an offline stand-in.

Real-size configs name one tokenizer dict for the model and the data pipeline. With a
pretrained InternVL folder (``path``) it is that folder's tokenizer plus the grounding
tokens (:func:`HFPretrainedTokenizer`). Nothing can be downloaded here, so with
``path=None`` (random-weight builds: parameter counts, smoke runs, tests) it is a
word-level stand-in padded with unused filler tokens to the published vocabulary size,
so the embedding table and the LM head get exactly the published shapes
(InternVL2.5-1B / 4B: 151674 rows, 8B: 92553, then the 5 grounding tokens Sa2VA adds).
The stand-in only knows the template words: real text becomes ``[UNK]`` tokens, which is
what a random-weight model deserves, not a way to train.
"""
from typing import Optional

from desa2va_mm.registry import TOKENIZERS
from .hf_pretrained_tokenizer import HFPretrainedTokenizer
from .special_tokens import GROUNDING_TOKENS
from .word_level import NUM_LEADING_SPECIALS, TEMPLATE_WORDS, build_word_tokenizer


@TOKENIZERS.register_module()
def InternVLTokenizer(path: Optional[str] = None,
                      *,
                      stand_in_vocab_size: int = 151674,
                      model_max_length: int = 8192,
                      trust_remote_code: bool = False,
                      **kwargs):
    """The InternVL tokenizer of a local checkpoint, or an offline stand-in of its size.

    Args:
        path: Local InternVL folder (native ``*-hf`` or original layout); its tokenizer is
            loaded without remote code and gets the grounding tokens. None builds the
            stand-in.
        stand_in_vocab_size: Vocabulary size of the published checkpoint before the
            grounding tokens are added (151674 for Qwen2.5-based InternVL2.5 / InternVL3,
            92553 for InternLM2.5-based InternVL2.5-8B). The stand-in has exactly this
            many tokens plus the 5 grounding tokens, like the real one after
            :func:`HFPretrainedTokenizer`.
        model_max_length: Longest sequence the stand-in reports as valid.
        trust_remote_code: Passed to ``AutoTokenizer`` for ``path`` (off by default).
        **kwargs: Passed to :func:`HFPretrainedTokenizer` for ``path``.

    Returns:
        A ``transformers`` tokenizer with ``[SEG]`` and the InternVL image tokens.
    """
    if path is not None:
        return HFPretrainedTokenizer(path, trust_remote_code=trust_remote_code, **kwargs)
    words = sorted(set(TEMPLATE_WORDS))
    target = stand_in_vocab_size + len(GROUNDING_TOKENS)
    num_fillers = target - NUM_LEADING_SPECIALS - len(words)
    if num_fillers < 0:
        raise ValueError(f'stand_in_vocab_size={stand_in_vocab_size} is smaller than the '
                         f'{NUM_LEADING_SPECIALS + len(words) - len(GROUNDING_TOKENS)} tokens the '
                         'stand-in needs')
    # Filler names cannot come out of the pre-tokenizer (it splits off '~'), so they are
    # rows of the table that text never reaches, like unused ids of a real vocabulary.
    # Appended after the template words: the real tokens get the same ids at any size.
    fillers = tuple(f'~unused_{i:06d}' for i in range(num_fillers))
    tokenizer = build_word_tokenizer(tuple(words), model_max_length, fillers)
    assert len(tokenizer) == target, (len(tokenizer), target)
    return tokenizer
