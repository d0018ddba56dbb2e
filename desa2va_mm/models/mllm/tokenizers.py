"""Tokenizer builders registered in :data:`desa2va_mm.registry.TOKENIZERS`.

The data pipeline (prompt tokenisation) and the model (``[SEG]`` id, vocabulary size)
build the tokenizer from the same config dict, so both live behind one registry:

* ``HFPretrainedTokenizer``: a Hugging Face tokenizer folder (InternVL / Qwen2 / InternLM2),
  loaded without remote code unless the user opts in, with the grounding tokens added.
* ``TinyWordTokenizer``: an offline word-level tokenizer for the tiny configs. Word-level
  because byte-level BPE made the synthetic sequences 2.3x longer and steps ~5x slower
  (docs: ENVIRONMENT.md calibration run); it needs no download.
"""
from functools import lru_cache
from typing import Iterable, Optional, Sequence, Tuple

from desa2va_mm.registry import TOKENIZERS

#: Tokens the grounding model adds to any tokenizer (Sa2VA's set).
SEG_TOKEN = '[SEG]'
IMG_START_TOKEN = '<img>'
IMG_END_TOKEN = '</img>'
IMG_CONTEXT_TOKEN = '<IMG_CONTEXT>'
GROUNDING_TOKENS = (SEG_TOKEN, '<p>', '</p>', '<vp>', '</vp>')
IMAGE_TOKENS = (IMG_START_TOKEN, IMG_END_TOKEN, IMG_CONTEXT_TOKEN)

#: Chat-template markers of the Qwen2 / InternLM2 templates used by InternVL2.5.
CHAT_TOKENS = ('<|im_start|>', '<|im_end|>', '<|endoftext|>')

#: Words of the prompt / answer templates (docs/design.md §9) and the Qwen2 system roles,
#: so the tiny tokenizer never maps template text to ``[UNK]``.
TEMPLATE_WORDS = (
    'system', 'user', 'assistant', 'you', 'are', 'a', 'helpful', 'please', 'segment',
    'in', 'this', 'image', 'video', 'sure', 'it', 'is', 'the', 'segmentation', 'result',
    'can', 'what', 'respond', 'with', 'mask', 'output', 'and', 'of', 'to', 'yes', 'no',
    'there', 'not', 'here', 'that', 'which', 'object', 'shape', 'shapes', 'frame',
    '.', ',', '?', '!', ':', "'", '"', '-', '(', ')', '[', ']', '<', '>', '/', '|',
)


@lru_cache(maxsize=8)
def _build_word_tokenizer(words: Tuple[str, ...], model_max_length: int,
                          appended: Tuple[str, ...] = ()):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ['[PAD]', '[UNK]', *CHAT_TOKENS, *IMAGE_TOKENS, *GROUNDING_TOKENS]
    vocab = {}
    # ``appended`` words come after the sorted ones: a vocabulary that extends another one
    # keeps every id of the smaller one (a checkpoint trained with it stays valid).
    for token in specials + sorted(set(words)) + list(appended):
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


@TOKENIZERS.register_module()
def TinyWordTokenizer(words: Optional[Iterable[str]] = None,
                      vocabulary: Optional[str] = 'synthetic_refcoco',
                      model_max_length: int = 512):
    """Build the offline word-level tokenizer of the tiny configs.

    Args:
        words: Extra words of the vocabulary.
        vocabulary: Name of a bundled word list to include (``'synthetic_refcoco'``: every
            word the synthetic RefCOCO generator can write; ``'synthetic_mevis'``: those
            plus the synthetic MeViS generator's motion words, appended after them so the
            ``'synthetic_refcoco'`` ids are unchanged) or ``None``.
        model_max_length: Longest sequence the tokenizer reports as valid.

    Returns:
        transformers.PreTrainedTokenizerFast: lower-cases, splits words and punctuation,
        maps unknown words to ``[UNK]``; chat, image and grounding tokens are special.
    """
    all_words = set(TEMPLATE_WORDS) | set(words or ())
    appended: Tuple[str, ...] = ()
    if vocabulary in ('synthetic_refcoco', 'synthetic_mevis'):
        from desa2va_mm.synthetic.vocabulary import REFCOCO_VOCABULARY as VOCABULARY
        all_words |= set(VOCABULARY)
        if vocabulary == 'synthetic_mevis':
            from desa2va_mm.synthetic.vocabulary import MEVIS_VOCABULARY
            appended = tuple(sorted(set(MEVIS_VOCABULARY) - all_words))
    elif vocabulary is not None:
        raise ValueError(f"Unknown vocabulary {vocabulary!r}; options: 'synthetic_refcoco', "
                         "'synthetic_mevis', None")
    return _build_word_tokenizer(tuple(sorted(all_words)), model_max_length, appended)


@TOKENIZERS.register_module()
def HFPretrainedTokenizer(path: str,
                          extra_special_tokens: Sequence[str] = GROUNDING_TOKENS + IMAGE_TOKENS,
                          trust_remote_code: bool = False,
                          **kwargs):
    """Load a Hugging Face tokenizer from a local folder and add the grounding tokens.

    Args:
        path: Local folder (or hub id when the machine can reach the hub).
        extra_special_tokens: Tokens added when missing (``[SEG]``, ``<p>`` ... and the
            InternVL image tokens).
        trust_remote_code: Run tokenizer code shipped with the checkpoint. Off by default: a
            checkpoint folder must not be able to run code unless the user opts in.
        **kwargs: Passed to ``AutoTokenizer.from_pretrained``.
    """
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(
        path, trust_remote_code=trust_remote_code, **kwargs)
    missing = [t for t in extra_special_tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({'additional_special_tokens': missing},
                                     replace_additional_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def build_tokenizer(cfg):
    """Build a tokenizer from a config dict (or return an already built one)."""
    if isinstance(cfg, dict):
        return TOKENIZERS.build(cfg)
    return cfg
