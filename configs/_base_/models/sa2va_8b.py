# Sa2VA-8B baseline at real size: InternVL2.5-8B = InternViT-300M-448px-V2_5 + MLP projector
# + InternLM2.5-7B-chat with SAM-2 hiera-L (see sa2va_1b.py for paths).
#
# The native transformers InternVL hosts InternLM2 as a Llama model: InternLM2 is Llama
# with q/k/v fused into one `wqkv` (grouped per KV head) and other names; transformers'
# InternVL conversion maps it to LlamaForCausalLM, and so does
# tools/model_converters/internvl_to_hf.py (wqkv split per KV group). No remote code.
_base_ = ['sa2va_1b.py']

tokenizer = dict(type='InternVLTokenizer', path=None, stand_in_vocab_size=92553)

# internlm2_5-7b-chat (hidden 4096, 32 layers, 32 heads, 8 KV heads, MLP 14336, RMSNorm
# 1e-5, rope theta 1e6 with dynamic NTK x2, no biases) as a Llama config.
internlm2_5_7b = dict(
    _delete_=True,
    model_type='llama', hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=8, hidden_act='silu',
    max_position_embeddings=32768, rms_norm_eps=1e-5,
    rope_parameters=dict(rope_type='dynamic', factor=2.0, rope_theta=1000000.0),
    attention_bias=False, mlp_bias=False, tie_word_embeddings=False)

model = dict(
    mllm=dict(tokenizer=tokenizer, model_config=dict(text_config=internlm2_5_7b)))
