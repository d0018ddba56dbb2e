# Sa2VA on InternVL3-8B (InternViT-300M-448px-V2_5 + MLP projector + Qwen2.5-7B, untied LM
# head), the backbone of Sa2VA-InternVL3-8B (`OpenGVLab/InternVL3-8B-hf` layout).
_base_ = ['sa2va_1b.py']

# Qwen2.5-7B (hidden 3584, 28 layers, 28 heads, 4 KV heads, MLP 18944).
model = dict(
    mllm=dict(
        model_config=dict(
            text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                             num_attention_heads=28, num_key_value_heads=4))))
