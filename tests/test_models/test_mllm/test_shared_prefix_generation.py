"""Prompt-prefix sharing in generation: same answers / [SEG] states as Hugging Face generate."""
import torch

from desa2va_mm.models.data_preprocessors.referring_data_preprocessor import pad_sequences
from desa2va_mm.models.mllm import InternVLMLLM
from desa2va_mm.models.mllm.shared_prefix_generation import _groups

TINY = dict(
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, image_size=56, patch_size=14),
    text_config=dict(model_type='qwen2', hidden_size=64, intermediate_size=128,
                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     max_position_embeddings=256, initializer_range=0.1,
                     tie_word_embeddings=False),
    downsample_ratio=0.5, tie_word_embeddings=False)


def _prompts(m, sentences_per_image):
    """Two images' prompts: template + <img> + 4 image tokens + </img> + a sentence."""
    tok = m.tokenizer
    img_start, img_end, ctx = tok.convert_tokens_to_ids(['<img>', '</img>', '<IMG_CONTEXT>'])
    head = tok('<|im_start|> user', add_special_tokens=False)['input_ids']
    tail = tok('<|im_end|> <|im_start|> assistant', add_special_tokens=False)['input_ids']
    seqs, feats = [], []
    for image, sentences in enumerate(sentences_per_image):
        image_feats = torch.randn(4, m.hidden_size, generator=torch.Generator().manual_seed(
            image))
        for s in sentences:
            words = tok(f'please segment {s}', add_special_tokens=False)['input_ids']
            seqs.append(torch.tensor(head + [img_start] + [ctx] * 4 + [img_end] + words + tail))
            feats.append(image_feats)
    ids = pad_sequences(seqs, tok.pad_token_id, 'left')
    mask = pad_sequences([torch.ones_like(s) for s in seqs], 0, 'left')
    return ids, mask, torch.cat(feats)


def test_groups_follow_images_and_prefix_covers_the_image_tokens():
    torch.manual_seed(0)
    m = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=TINY).eval()
    ids, mask, feats = _prompts(m, [['the red circle', 'the red star', 'the blue square'],
                                    ['the red circle']])
    embeds = m.embed(ids, feats)
    valid = mask.bool()
    groups = _groups([ids[b][valid[b]] for b in range(4)],
                     [embeds[b][valid[b]] for b in range(4)], m.image_token_id)
    # Image 1 has the same tokens but other features: its own group.
    assert [g[0] for g in groups] == [[0, 1, 2], [3]]
    # Shared: template, image, "please segment the": up to the first differing word.
    first = ids[0][valid[0]].tolist()
    assert groups[0][1] == first.index(m.tokenizer.convert_tokens_to_ids('red'))
    assert groups[1][1] == int(valid[3].sum()) - 1


def test_same_answers_and_seg_states_as_hf_generate():
    torch.manual_seed(0)
    m = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=TINY).eval()
    seg = m.seg_token_id
    ids, mask, feats = _prompts(m, [['the red circle', 'the small red star', 'the square'],
                                    ['the red circle', 'the hexagon']])
    with torch.no_grad():
        # [SEG] takes the place of the most generated word, so answers mix [SEG] and words.
        m.share_prompt_prefix = False
        words = [t for a in m.generate(ids, mask, feats, max_new_tokens=6)[0] for t in a]
        m.model.lm_head.weight[seg] = m.model.lm_head.weight[max(set(words),
                                                                 key=words.count)] * 1.01
        m.share_prompt_prefix = False
        hf_answers, hf_states = m.generate(ids, mask, feats, max_new_tokens=6)
        m.share_prompt_prefix = True
        answers, states = m.generate(ids, mask, feats, max_new_tokens=6)
    assert answers == hf_answers
    assert sum(a.count(seg) for a in answers) > 0  # the test exercises [SEG] states
    for ours, ref in zip(states, hf_states):
        assert ours.shape == ref.shape
        assert torch.allclose(ours, ref, atol=1e-4)


def test_seg_as_last_token_still_gets_its_state():
    torch.manual_seed(0)
    m = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=TINY).eval()
    seg = m.seg_token_id
    head = torch.nn.Linear(m.hidden_size, m.model.lm_head.out_features)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[seg] = 1.0  # every step picks [SEG]; never EOS
    m.model.lm_head = head
    ids, mask, feats = _prompts(m, [['the red circle', 'the star']])
    with torch.no_grad():
        answers, states = m.generate(ids, mask, feats, max_new_tokens=3)
        # Teacher-forced reference for the first sequence: prompt + 3 x [SEG].
        full = torch.cat([ids[0][mask[0].bool()], torch.tensor([seg] * 3)])[None]
        tf = m(full, torch.ones_like(full), feats[:4])['hidden_states'][0]
    assert answers == [[seg] * 3, [seg] * 3]
    assert states[0].shape == (3, m.hidden_size)
    assert torch.allclose(states[0], tf[-3:], atol=1e-4)


def test_answers_of_every_image_run_in_one_loop():
    """Groups of several images (prompts of different lengths) answer in one batch: one
    LM-head call per step, and every sequence's [SEG] states are its own prompt's."""
    torch.manual_seed(0)
    m = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=TINY).eval()
    seg = m.seg_token_id
    head = torch.nn.Linear(m.hidden_size, m.model.lm_head.out_features)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[seg] = 1.0  # every step picks [SEG]
    m.model.lm_head = head
    calls = []
    head.register_forward_hook(lambda *args: calls.append(1))
    ids, mask, feats = _prompts(m, [['the red circle', 'the star'],
                                    ['the small blue hexagon'], ['the square']])
    with torch.no_grad():
        answers, states = m.generate(ids, mask, feats, max_new_tokens=3)
        assert len(calls) == 3  # not 3 per image
        for b in range(4):
            prompt = ids[b][mask[b].bool()]
            full = torch.cat([prompt, torch.tensor([seg] * 3)])[None]
            tf = m(full, torch.ones_like(full), feats[4 * b:4 * b + 4])['hidden_states'][0]
            assert answers[b] == [seg] * 3
            assert torch.allclose(states[b], tf[-3:], atol=1e-4), b


def test_groups_whose_cache_dropped_positions_answer_on_their_own(monkeypatch):
    """A sliding-window layer may drop prompt positions: those groups are not merged and
    give the same answers and states, one answer loop per group."""
    from desa2va_mm.models.mllm import shared_prefix_generation
    torch.manual_seed(0)
    m = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=TINY).eval()
    seg = m.seg_token_id
    head = torch.nn.Linear(m.hidden_size, m.model.lm_head.out_features)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[seg] = 1.0
    m.model.lm_head = head
    calls = []
    head.register_forward_hook(lambda *args: calls.append(1))
    ids, mask, feats = _prompts(m, [['the red circle', 'the star'], ['the square']])
    with torch.no_grad():
        merged = m.generate(ids, mask, feats, max_new_tokens=3)
        monkeypatch.setattr(shared_prefix_generation, '_mergeable', lambda *args: False)
        calls.clear()
        separate = m.generate(ids, mask, feats, max_new_tokens=3)
    assert len(calls) == 2 * 3  # one loop per image
    assert separate[0] == merged[0] == [[seg] * 3] * 3
    for a, b in zip(separate[1], merged[1]):
        assert torch.allclose(a, b, atol=1e-5)


def test_both_generation_paths_stop_at_a_stop_word_of_several_tokens(monkeypatch):
    """A chat-template stop word the tokenizer splits (phi3's <|end|> on Qwen2.5) ends
    generation in both paths, and the answer stops before it."""
    from desa2va_mm.models.mllm.stop_words import StopWords
    torch.manual_seed(0)
    m = InternVLMLLM(tokenizer=dict(type='TinyWordTokenizer'), model_config=TINY).eval()
    seg = m.seg_token_id
    head = torch.nn.Linear(m.hidden_size, m.model.lm_head.out_features)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[seg] = 1.0  # every step picks [SEG]
    m.model.lm_head = head
    tok = m.tokenizer
    word = tok.decode([seg, seg], skip_special_tokens=False)  # two tokens once encoded
    assert len(tok.encode(word, add_special_tokens=False)) == 2
    stop = StopWords(tok, [word], tok.eos_token_id)
    assert stop.multi == [word]
    ids, mask, feats = _prompts(m, [['the red circle', 'the star']])
    calls = []
    head.register_forward_hook(lambda *args: calls.append(1))
    results, steps = {}, {}
    with torch.no_grad():
        for shared in (False, True):
            m.share_prompt_prefix = shared
            calls.clear()
            results['unstopped', shared] = m.generate(ids, mask, feats, max_new_tokens=4)[0]
            steps['unstopped', shared] = len(calls)
        monkeypatch.setattr(m, 'stop_words', lambda: stop)
        for shared in (False, True):
            m.share_prompt_prefix = shared
            calls.clear()
            results[shared] = m.generate(ids, mask, feats, max_new_tokens=4)
            steps[shared] = len(calls)
    for shared in (False, True):
        assert results['unstopped', shared] == [[seg] * 4, [seg] * 4]
        # Generation itself stops once the stop word is complete (2 of 4 steps).
        assert steps[shared] < steps['unstopped', shared], (shared, steps)
    for shared in (False, True):
        answers, states = results[shared]
        # The stop word starts at the first token: nothing of it is kept, no [SEG] state.
        assert answers == [[], []], shared
        assert all(s.shape == (0, m.hidden_size) for s in states), shared
