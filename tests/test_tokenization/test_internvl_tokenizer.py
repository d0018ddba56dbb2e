"""InternVLTokenizer: the offline stand-in has the published vocabulary size."""
import pytest

from desa2va_mm.tokenization import GROUNDING_TOKENS, IMAGE_TOKENS, InternVLTokenizer


@pytest.mark.parametrize('vocab', [151674, 92553])
def test_stand_in_has_published_size_plus_grounding_tokens(vocab):
    tok = InternVLTokenizer(path=None, stand_in_vocab_size=vocab)
    assert len(tok) == vocab + len(GROUNDING_TOKENS)
    for special in GROUNDING_TOKENS + IMAGE_TOKENS:
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id, special
    ids = tok('<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nPlease segment the '
              'zebra in this image.<|im_end|>', add_special_tokens=False)['input_ids']
    ctx = tok.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert ids.count(ctx) == 2
    # Template words are known, other words are [UNK]; filler rows are never produced.
    assert tok.convert_ids_to_tokens(ids).count('[UNK]') == 1  # 'zebra'
    assert max(ids) < 200
    # The same ids at every size (fillers come last).
    assert InternVLTokenizer(path=None, stand_in_vocab_size=1000)(
        '<|im_start|>user\nPlease segment', add_special_tokens=False)['input_ids'] == \
        tok('<|im_start|>user\nPlease segment', add_special_tokens=False)['input_ids']


def test_stand_in_too_small_is_refused():
    with pytest.raises(ValueError, match='stand_in_vocab_size=10'):
        InternVLTokenizer(path=None, stand_in_vocab_size=10)


def test_path_loads_the_folder_tokenizer(tmp_path):
    from desa2va_mm.tokenization import TinyWordTokenizer
    TinyWordTokenizer(vocabulary=None).save_pretrained(str(tmp_path))
    tok = InternVLTokenizer(path=str(tmp_path))
    assert tok.convert_tokens_to_ids('[SEG]') != tok.unk_token_id
    assert len(tok) == len(TinyWordTokenizer(vocabulary=None))
