# Sa2VA-4B baseline at real size: InternVL2.5-4B = InternViT-300M-448px-V2_5 + MLP projector
# + Qwen2.5-3B-Instruct (untied LM head) with SAM-2 hiera-L (see sa2va_1b.py for paths).
_base_ = ['sa2va_1b.py']

# Qwen2.5-3B-Instruct (hidden 2048, 36 layers, 16 heads, 2 KV heads, MLP 11008).
model = dict(
    mllm=dict(
        model_config=dict(
            text_config=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                             num_attention_heads=16, num_key_value_heads=2))))
