"""Answers end at EOS or at the chat template's stop words, one token or several."""
import torch

from desa2va_mm.models.mllm.stop_words import StopWords


class CharTokenizer:
    """One token per character, except the special tokens in ``specials`` (one id each):
    a stop word such as ``<|end|>`` is then several tokens, as phi3's is on Qwen2.5."""

    def __init__(self, specials=('<|im_end|>', '<eos>')):
        self.specials = {s: 1000 + i for i, s in enumerate(specials)}
        self.by_id = {v: k for k, v in self.specials.items()}

    def encode(self, text, add_special_tokens=False):
        ids, i = [], 0
        while i < len(text):
            for special, sid in self.specials.items():
                if text.startswith(special, i):
                    ids.append(sid)
                    i += len(special)
                    break
            else:
                ids.append(ord(text[i]))
                i += 1
        return ids

    def decode(self, ids, skip_special_tokens=False):
        return ''.join(self.by_id.get(i, chr(i) if i < 1000 else '') for i in ids)


def test_single_token_stop_words_and_eos_end_the_answer():
    tok = CharTokenizer()
    stop = StopWords(tok, ('<|im_end|>', ), eos_id=tok.specials['<eos>'])
    assert stop.multi == [] and stop.single == {1000, 1001}
    ids = tok.encode('Sure, [SEG].<|im_end|>more')
    assert stop.cut(ids) == len('Sure, [SEG].')
    ids = tok.encode('It is [SEG].<eos>')
    assert stop.cut(ids) == len('It is [SEG].')
    assert stop.cut(tok.encode('no end yet')) is None
    assert stop.criterion() is None  # nothing to watch beyond single ids


def test_multi_token_stop_word_ends_the_answer_before_it():
    tok = CharTokenizer()
    stop = StopWords(tok, ('<|end|>', ), eos_id=tok.specials['<eos>'])
    assert stop.multi == ['<|end|>'] and stop.window == len('<|end|>') + 2
    answer = 'Sure, [SEG].'
    ids = tok.encode(answer + '<|end|>\n<|user|>\nmore [SEG]')
    # The answer is everything before the stop word; the [SEG] after it is not kept.
    assert stop.cut(ids) == len(answer)
    assert tok.decode(ids[:stop.cut(ids)]) == answer
    # Streaming: not ended while the stop word is incomplete, ended once it is complete.
    partial = tok.encode(answer + '<|end')
    assert not stop.ended(partial)
    assert stop.ended(tok.encode(answer + '<|end|>'))
    # EOS still ends an answer that never writes the stop word.
    assert stop.cut(tok.encode('It is [SEG].') + [tok.specials['<eos>']]) == len('It is [SEG].')


def test_criterion_stops_rows_that_wrote_the_stop_word():
    tok = CharTokenizer()
    stop = StopWords(tok, ('<|end|>', ), eos_id=None)
    criterion = stop.criterion()
    rows = [tok.encode('abc<|end|>'), tok.encode('abcdefghij')]
    width = max(len(r) for r in rows)
    batch = torch.tensor([r + [ord(' ')] * (width - len(r)) for r in rows])
    assert criterion(batch, None).tolist() == [True, False]
