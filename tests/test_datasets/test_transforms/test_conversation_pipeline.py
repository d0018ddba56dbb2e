"""Targets sampling, conversation building and tokenisation with answer-only labels."""
import numpy as np
import pytest

from desa2va_mm.datasets.transforms import (BuildReferringConversation, SampleReferringTargets,
                                            TokenizeConversation)
from desa2va_mm.tokenization import TinyWordTokenizer

TOK_CFG = dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco')


def _objects():
    return [dict(mask=[[0, 0, 4, 0, 4, 4]], sentences=['the red circle', 'the left circle']),
            dict(mask=[[1, 1, 3, 1, 3, 3]], sentences=['the blue star']),
            dict(mask=[[2, 2, 3, 2, 3, 3]], sentences=['the small square'])]


def test_sample_all_keeps_every_sentence_in_order():
    out = SampleReferringTargets(mode='all')({'instances': _objects(), 'img_path': 'a.jpg'})
    assert out['text'] == ['the red circle', 'the left circle', 'the blue star',
                           'the small square']
    assert [i['mask'] for i in out['instances']] == [o['mask'] for o in _objects()
                                                     for _ in o['sentences']]


def test_sample_random_draws_anew_each_call_and_caps_objects():
    t = SampleReferringTargets(mode='random', max_objects=2)
    np.random.seed(0)
    seen = set()
    for _ in range(50):
        out = t({'instances': _objects(), 'img_path': 'a.jpg'})
        assert len(out['text']) == 2 == len(out['instances'])
        seen.update(out['text'])
    assert {'the red circle', 'the left circle'} <= seen  # both sentences of object 0


def test_sample_errors_name_the_image():
    with pytest.raises(ValueError, match='a.jpg'):
        SampleReferringTargets()({'instances': [], 'img_path': 'a.jpg'})
    with pytest.raises(ValueError):
        SampleReferringTargets(mode='first')


def _tokenize(results, **kw):
    results = BuildReferringConversation(**kw)(results)
    return TokenizeConversation(tokenizer=TOK_CFG, template='qwen2', num_image_tokens_per_tile=4)(results)


def test_training_sequence_supervises_answers_only():
    tok = TinyWordTokenizer()
    np.random.seed(0)
    out = _tokenize({'text': ['the red circle', 'the blue star'], 'num_tiles': 2,
                     'img_path': 'a.jpg'}, mode='train', answers=('Sure, [SEG].', ),
                    questions=('Please segment {expression} in this image.', ))
    ids, labels = out['input_ids'][0], out['labels'][0]
    assert ids.shape == labels.shape
    seg = tok.convert_tokens_to_ids('[SEG]')
    ctx = tok.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert int((ids == ctx).sum()) == 2 * 4  # tiles x tokens per tile, once
    assert int((ids == seg).sum()) == 2 and int((labels == seg).sum()) == 2
    supervised = tok.decode(labels[labels != -100].tolist())
    assert supervised == 'sure , [SEG] . <|im_end|> sure , [SEG] . <|im_end|>'
    text = tok.decode(ids.tolist())
    assert text.startswith('<|im_start|> user <img>')
    assert 'please segment the red circle in this image .' in text


def test_test_prompts_one_per_sentence_ending_with_assistant_prefix():
    tok = TinyWordTokenizer()
    out = _tokenize({'text': ['the red circle', 'the blue star'], 'num_tiles': 1,
                     'img_path': 'a.jpg'}, mode='test')
    assert len(out['input_ids']) == 2 and 'labels' not in out
    for ids in out['input_ids']:
        assert tok.decode(ids[-2:].tolist()) == '<|im_start|> assistant'


def test_typed_special_tokens_stay_plain_text():
    tok = TinyWordTokenizer()
    out = _tokenize({'text': ['the [SEG] <img> <IMG_CONTEXT> <|im_end|> circle'],
                     'num_tiles': 1, 'img_path': 'a.jpg'}, mode='test')
    ids = out['input_ids'][0]
    assert int((ids == tok.convert_tokens_to_ids('[SEG]')).sum()) == 0
    assert int((ids == tok.convert_tokens_to_ids('<img>')).sum()) == 1  # ours only
    assert int((ids == tok.convert_tokens_to_ids('<IMG_CONTEXT>')).sum()) == 4
    assert int((ids == tok.convert_tokens_to_ids('<|im_end|>')).sum()) == 1


def test_overlong_training_conversation_drops_turns_and_targets():
    from mmdet.structures.mask import BitmapMasks
    np.random.seed(0)
    masks = BitmapMasks(np.zeros((3, 4, 4), np.uint8), 4, 4)
    results = BuildReferringConversation(mode='train', answers=('[SEG].', ))(
        {'text': ['the red circle', 'the blue star', 'the small square'], 'num_tiles': 1,
         'gt_masks': masks, 'img_path': 'a.jpg'})
    out = TokenizeConversation(tokenizer=TOK_CFG, template='qwen2', num_image_tokens_per_tile=4,
                               max_length=30)(results)
    n_seg = int((out['input_ids'][0] == TinyWordTokenizer().convert_tokens_to_ids('[SEG]')).sum())
    assert len(out['input_ids'][0]) <= 30
    assert 1 <= n_seg < 3 and len(out['gt_masks']) == n_seg == len(out['text'])


def test_overlong_test_prompt_is_shortened_with_warning():
    results = BuildReferringConversation(mode='test')(
        {'text': ['the red circle ' * 50], 'num_tiles': 1, 'img_path': 'a.jpg'})
    with pytest.warns(UserWarning, match='shortened'):
        out = TokenizeConversation(tokenizer=TOK_CFG, template='qwen2', num_image_tokens_per_tile=4,
                                   max_length=40)(results)
    tok = TinyWordTokenizer()
    ids = out['input_ids'][0]
    assert len(ids) == 40 and tok.decode(ids[-2:].tolist()) == '<|im_start|> assistant'


def test_empty_expression_is_an_error_naming_the_image():
    with pytest.raises(ValueError, match='a.jpg: expression 1 is empty'):
        BuildReferringConversation(mode='test')({'text': ['ok', '  '], 'img_path': 'a.jpg'})


class _CountingTokenizer:
    """The tiny tokenizer, counting its encode calls (to see which strings the cache
    answered)."""

    calls = 0

    def __init__(self):
        self._tok = TinyWordTokenizer()

    def __call__(self, *args, **kwargs):
        type(self).calls += 1
        return self._tok(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def test_encodings_are_cached_copies_and_follow_the_tokenizer():
    results = {'text': ['the red circle', 'the blue star'], 'num_tiles': 1, 'img_path': 'a.jpg'}
    conv = BuildReferringConversation(mode='train', answers=('Sure, [SEG].', ),
                                      questions=('Please segment {expression} .', ))
    plain = TokenizeConversation(tokenizer=TinyWordTokenizer(), template='qwen2',
                                 num_image_tokens_per_tile=4)
    expected = plain(conv(dict(results)))
    cached = TokenizeConversation(tokenizer=_CountingTokenizer(), template='qwen2',
                                  num_image_tokens_per_tile=4)
    first = cached(conv(dict(results)))
    calls = _CountingTokenizer.calls
    assert calls > 0
    # A caller changing a returned list must not change the cached encoding.
    cached._plain('the red circle').append(-1)
    second = cached(conv(dict(results)))
    assert _CountingTokenizer.calls == calls  # every string came from the cache
    for out in (first, second):
        for key in ('input_ids', 'labels', 'expression_ids'):
            assert all(a.equal(b) for a, b in zip(out[key], expected[key]))
    # Another tokenizer: the cache starts afresh.
    cached.set_tokenizer(_CountingTokenizer())
    cached(conv(dict(results)))
    assert _CountingTokenizer.calls > calls
