"""``TinyWordTokenizer``: the offline word-level tokenizer of the tiny configs.

Its bundled word lists are the synthetic generators' own
(:mod:`desa2va_mm.synthetic.vocabulary`, standard library only), imported directly rather
than registered by name in a table of vocabularies here: the generators and the tokenizer
read one definition, so the tokenizer cannot miss a word the generator writes, and there
is no import-order dependence (a name table would only be filled once something imported
the generator). Importing the vocabulary pulls in neither the datasets nor the models.
"""
from typing import Iterable, Optional, Tuple

from desa2va_mm.registry import TOKENIZERS
from desa2va_mm.synthetic.vocabulary import MEVIS_VOCABULARY, REFCOCO_VOCABULARY
from .word_level import TEMPLATE_WORDS, build_word_tokenizer

#: Bundled word lists by name.
VOCABULARIES = ('synthetic_refcoco', 'synthetic_mevis')


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
    if vocabulary in VOCABULARIES:
        all_words |= set(REFCOCO_VOCABULARY)
        if vocabulary == 'synthetic_mevis':
            appended = tuple(sorted(set(MEVIS_VOCABULARY) - all_words))
    elif vocabulary is not None:
        raise ValueError(f"Unknown vocabulary {vocabulary!r}; options: 'synthetic_refcoco', "
                         "'synthetic_mevis', None")
    return build_word_tokenizer(tuple(sorted(all_words)), model_max_length, appended)
