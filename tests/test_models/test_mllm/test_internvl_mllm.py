"""InternVLMLLM: tiny build, LoRA placement and scaling, image-token scatter, generation."""
import pytest
import torch

from desa2va_mm.models.mllm import InternVLMLLM

TINY = dict(
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, image_size=56, patch_size=14),
    text_config=dict(model_type='qwen2', hidden_size=64, intermediate_size=128,
                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     max_position_embeddings=256, initializer_range=0.1,
                     tie_word_embeddings=False),
    downsample_ratio=0.5, tie_word_embeddings=False)
TOK = dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco')


def _mllm(**kw):
    torch.manual_seed(0)
    return InternVLMLLM(tokenizer=TOK, model_config=TINY, **kw)


def test_tiny_build_tokens_and_freezing():
    m = _mllm(freeze_vision=True, freeze_llm=True, train_embeddings=True)
    assert m.num_image_tokens_per_tile == (56 // 14) ** 2 // 4
    assert m.model.get_input_embeddings().num_embeddings == len(m.tokenizer)
    assert m.image_token_id == m.tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>')
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    projector = {n for n, _ in m.named_parameters() if 'multi_modal_projector' in n}
    # Sa2VA: vision tower and LLM body frozen; projector, embeddings and LM head train.
    assert projector and trainable == projector | {
        'model.model.language_model.embed_tokens.weight', 'model.lm_head.weight'}


def test_lora_targets_llm_linears_only_with_alpha_over_r_scaling():
    m = _mllm(freeze_vision=True, freeze_llm=True, train_embeddings=True,
              lora=dict(r=8, lora_alpha=16, lora_dropout=0.05))
    names = [n for n, _ in m.named_parameters() if 'lora_' in n]
    assert names and all('language_model' in n for n in names)
    assert not any('vision_tower' in n or 'lm_head' in n for n in names)
    wrapped = {n.rsplit('.lora_', 1)[0] for n in names}
    for proj in ('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'):
        assert any(w.endswith(proj) for w in wrapped), proj
    layer = m.model.model.language_model.layers[0].self_attn.q_proj
    assert layer.scaling['default'] == pytest.approx(16 / 8)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    projector = {n for n, _ in m.named_parameters() if 'multi_modal_projector' in n}
    assert trainable == set(names) | projector | {
        'model.model.language_model.embed_tokens.weight', 'model.lm_head.weight'}
    # LoRA B starts at zero: the adapted model computes exactly what the base does.
    base = _mllm(freeze_vision=True, freeze_llm=True)
    ids = torch.tensor([[30, 31, 32, 33]])
    mask = torch.ones_like(ids)
    m.eval(), base.eval()
    assert torch.allclose(m(ids, mask)['hidden_states'], base(ids, mask)['hidden_states'],
                          atol=1e-6)


def test_image_features_scatter_and_mismatch_error():
    m = _mllm(freeze_vision=False, freeze_llm=False)
    n = m.num_image_tokens_per_tile
    ctx = m.image_token_id
    ids = torch.tensor([[3] + [ctx] * n + [4]])
    feats = torch.randn(n, m.hidden_size)
    embeds = m.embed(ids, feats)
    assert torch.equal(embeds[0, 1:1 + n], feats)
    with pytest.raises(ValueError, match='do not match'):
        m.embed(ids, feats[:-1])


def test_lm_loss_is_mean_over_supervised_tokens():
    m = _mllm(freeze_vision=False, freeze_llm=False)
    ids = torch.tensor([[30, 31, 32, 33, 34]])
    labels = torch.tensor([[-100, -100, 32, 33, -100]])
    out = m(ids, torch.ones_like(ids), labels=labels)
    logits = m.model.lm_head(out['hidden_states'])[0]
    expected = torch.nn.functional.cross_entropy(logits[1:3], torch.tensor([32, 33]))
    assert out['loss_lm'].item() == pytest.approx(expected.item(), rel=1e-5)


def test_generate_returns_seg_states_equal_to_teacher_forced_states():
    m = _mllm(freeze_vision=False, freeze_llm=False).eval()
    seg = m.seg_token_id
    # Make [SEG] the greedy choice after the prompt, then EOS.
    with torch.no_grad():
        m.model.lm_head.weight.zero_()
        m.model.lm_head.weight[seg] = m.model.model.language_model.norm.weight * 0 + 1
    prompt = torch.tensor([[30, 31, 32]])
    answers, states = m.generate(prompt, torch.ones_like(prompt), max_new_tokens=2)
    assert answers[0][0] == seg and states[0].shape == (len([t for t in answers[0]
                                                             if t == seg]), m.hidden_size)
    full = torch.tensor([[30, 31, 32] + answers[0]])
    tf = m(full, torch.ones_like(full))['hidden_states'][0]
    assert torch.allclose(states[0][0], tf[3], atol=1e-5)
