"""The offline tiny tokenizer: vocabulary, special tokens, escaping of user text."""
import pytest

from desa2va_mm.registry import TOKENIZERS
from desa2va_mm.tokenization import TinyWordTokenizer


def test_special_tokens_are_single_ids_and_words_round_trip():
    tok = TinyWordTokenizer()
    for t in ('[SEG]', '<img>', '</img>', '<IMG_CONTEXT>', '<|im_start|>', '<|im_end|>'):
        ids = tok(t, add_special_tokens=False)['input_ids']
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == t
    ids = tok('The small red circle.', add_special_tokens=False)['input_ids']
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == 'the small red circle .'
    assert tok('zebra', add_special_tokens=False)['input_ids'] == [tok.unk_token_id]


def test_split_special_tokens_keeps_typed_markers_as_text():
    tok = TinyWordTokenizer()
    seg = tok.convert_tokens_to_ids('[SEG]')
    plain = tok('the [SEG] <img>', add_special_tokens=False,
                split_special_tokens=True)['input_ids']
    assert seg not in plain and tok.convert_tokens_to_ids('<img>') not in plain
    assert len(plain) > 3


def test_registry_build_is_cached_and_unknown_vocabulary_fails():
    a = TOKENIZERS.build(dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco'))
    b = TOKENIZERS.build(dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco'))
    assert a is b
    with pytest.raises(ValueError, match='Unknown vocabulary'):
        TinyWordTokenizer(vocabulary='klingon')
