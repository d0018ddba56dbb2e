"""InternLM2's SentencePiece tokenizer -> fast ``tokenizer.json`` (InternVL2.5-8B route).

The reference is the SentencePiece model itself, used the way InternLM2's remote-code
``InternLM2Tokenizer`` uses it: the text is cut at added tokens, each stretch goes through
``SentencePieceProcessor.encode``, the added tokens keep their ids and ``<s>`` comes first
(``add_bos_token=True``). The model is a real SentencePiece BPE with byte fallback, trained
with the ``sentencepiece`` library on the synthetic vocabulary.
"""
import io
import json
import os.path as osp
import re

import pytest

spm = pytest.importorskip('sentencepiece')
pytest.importorskip('google.protobuf')

from desa2va_mm.synthetic.vocabulary import MEVIS_VOCABULARY  # noqa: E402
from desa2va_mm.utils.internvl_conversion import (  # noqa: E402
    convert_internlm2_tokenizer, is_internlm2_sentencepiece_folder)

CHAT_TOKENS = ('<|plugin|>', '<|interpreter|>', '<|action_end|>', '<|action_start|>',
               '<|im_end|>', '<|im_start|>')
INTERNVL_TOKENS = ('<img>', '</img>', '<IMG_CONTEXT>', '<quad>', '</quad>', '<ref>', '</ref>',
                   '<box>', '</box>')

TEXTS = [
    'the red circle', 'The Red Circle!', 'a small  blue   square', '  leading spaces',
    'trailing spaces   ', 'line one\nline two\n\nline four', 'tabs\tand\tmore\t',
    'punctuation: (a), [b]; {c}? "d" \'e\' -- f...', 'numbers 0123456789 and 3.14',
    'unicode: café naïve Ünïcödé ß', '中文字符 and 日本語', 'emoji 🙂🚀 mixed 👍🏽 text',
    'Please segment <IMG_CONTEXT><IMG_CONTEXT> the star.',
    '<|im_start|>user\n<img><IMG_CONTEXT></img> where is it?<|im_end|>\n<|im_start|>assistant\n',
    '<ref>the hexagon</ref><box>[[1, 2, 3, 4]]</box>', '<quad></quad>', '', ' ', '\n',
    'x' * 50, 'moving left then right ' * 5,
]


def _corpus():
    words = sorted(MEVIS_VOCABULARY)
    lines = [' '.join(words[i:i + 7]) for i in range(0, len(words))]
    lines += [w.capitalize() + '.' for w in words]
    return lines * 3


def _train(folder: str, normalization: str) -> 'spm.SentencePieceProcessor':
    model = io.BytesIO()
    kwargs = dict(model_type='bpe', vocab_size=400, byte_fallback=True, unk_id=0, bos_id=1,
                  eos_id=2, pad_id=-1, character_coverage=1.0,
                  user_defined_symbols=list(CHAT_TOKENS), minloglevel=2)
    if normalization == 'identity':  # no NFKC, whitespace kept as is, no dummy prefix
        kwargs.update(normalization_rule_name='identity', add_dummy_prefix=False,
                      remove_extra_whitespaces=False)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_corpus()), model_writer=model,
                                   **kwargs)
    with open(osp.join(folder, 'tokenizer.model'), 'wb') as f:
        f.write(model.getvalue())
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def _write_release_folder(folder: str, normalization: str):
    """A tokenizer folder laid out as InternVL2.5-8B's release holds it."""
    sp = _train(folder, normalization)
    base = sp.get_piece_size()
    ids = {'<unk>': 0, '<s>': 1, '</s>': 2}
    ids.update({t: sp.piece_to_id(t) for t in CHAT_TOKENS})
    ids.update({t: base + i for i, t in enumerate(INTERNVL_TOKENS)})

    def entry(t):
        return dict(content=t, lstrip=False, normalized=False, rstrip=False,
                    single_word=False, special=True)

    with open(osp.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump(dict(
            add_bos_token=True, add_eos_token=False,
            added_tokens_decoder={str(i): entry(t) for t, i in ids.items()},
            additional_special_tokens=list(CHAT_TOKENS),
            auto_map={'AutoTokenizer': ['tokenization_internlm2.InternLM2Tokenizer', None]},
            bos_token='<s>', clean_up_tokenization_spaces=False, eos_token='</s>',
            model_max_length=8192, pad_token='</s>', tokenizer_class='InternLM2Tokenizer',
            unk_token='<unk>'), f)
    with open(osp.join(folder, 'special_tokens_map.json'), 'w') as f:
        json.dump(dict(additional_special_tokens=list(CHAT_TOKENS), bos_token='<s>',
                       eos_token='</s>', pad_token='</s>', unk_token='<unk>'), f)
    with open(osp.join(folder, 'tokenization_internlm2.py'), 'w') as f:
        f.write("raise RuntimeError('remote code executed')\n")
    return sp, ids


def _reference(sp, ids: dict, text: str) -> list:
    """InternLM2Tokenizer's ids: stretches between added tokens through SentencePiece."""
    added = sorted((t for t in ids if t not in ('<unk>', '<s>', '</s>')), key=len,
                   reverse=True)
    out = [1]
    for part in re.split('(' + '|'.join(re.escape(t) for t in added) + ')', text):
        if part in ids:
            out.append(ids[part])
        elif part:
            out += sp.encode(part)
    return out


@pytest.fixture(scope='module', params=['identity', 'nmt_nfkc'])
def converted(request, tmp_path_factory):
    src = str(tmp_path_factory.mktemp('internlm2_src'))
    out = str(tmp_path_factory.mktemp('internlm2_hf'))
    sp, ids = _write_release_folder(src, request.param)
    assert is_internlm2_sentencepiece_folder(src)
    written = convert_internlm2_tokenizer(src, out)
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(out)  # trust_remote_code=False
    return sp, ids, tokenizer, written, out


def test_written_files_have_no_remote_code(converted):
    _, _, tokenizer, written, out = converted
    assert written == ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']
    with open(osp.join(out, 'tokenizer_config.json')) as f:
        config = json.load(f)
    assert 'auto_map' not in config
    assert config['tokenizer_class'] == 'PreTrainedTokenizerFast'
    assert not is_internlm2_sentencepiece_folder(out)
    assert type(tokenizer).__name__ in ('PreTrainedTokenizerFast', 'TokenizersBackend')


def test_ids_match_sentencepiece(converted):
    sp, ids, tokenizer, _, _ = converted
    byte_pieces = 0
    for text in TEXTS:
        want = _reference(sp, ids, text)
        got = tokenizer(text)['input_ids']
        assert got == want, (text, got, want)
        byte_pieces += sum(sp.is_byte(i) for i in want[1:] if i < sp.get_piece_size())
    assert byte_pieces > 10  # the emoji and CJK really went through byte fallback


def test_added_tokens_keep_release_ids(converted):
    sp, ids, tokenizer, _, _ = converted
    base = sp.get_piece_size()
    assert tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>') == base + 2
    for token, token_id in ids.items():
        assert tokenizer.convert_tokens_to_ids(token) == token_id, token
    assert len(tokenizer) == base + len(INTERNVL_TOKENS)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (1, 2, 0)
    assert tokenizer('<IMG_CONTEXT>' * 3)['input_ids'] == [1] + [base + 2] * 3


def test_decode_round_trip(converted):
    sp, ids, tokenizer, _, _ = converted
    for text in TEXTS:
        if '<' in text:
            continue
        got = tokenizer.decode(tokenizer(text)['input_ids'], skip_special_tokens=True)
        assert got == sp.decode(sp.encode(text)), text


def test_mismatched_added_token_id_is_an_error(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    sp, ids = _write_release_folder(str(src), 'identity')
    config = json.loads((src / 'tokenizer_config.json').read_text())
    entry = config['added_tokens_decoder'].pop(str(ids['<img>']))
    config['added_tokens_decoder'][str(ids['<img>'] + 5)] = entry
    (src / 'tokenizer_config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='next free id'):
        convert_internlm2_tokenizer(str(src), str(tmp_path / 'out'))
