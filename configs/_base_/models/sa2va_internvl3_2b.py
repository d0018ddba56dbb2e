# Sa2VA on InternVL3-2B (InternViT-300M-448px-V2_5 + MLP projector + Qwen2.5-1.5B, untied LM
# head), the backbone of Sa2VA-InternVL3-2B; native transformers InternVL hosts InternVL3
# (`OpenGVLab/InternVL3-2B-hf` layout). Same tokenizer family as InternVL2.5-1B / 4B.
_base_ = ['sa2va_1b.py']

# Qwen2.5-1.5B (hidden 1536, 28 layers, 12 heads, 2 KV heads, MLP 8960).
model = dict(
    mllm=dict(
        model_config=dict(
            text_config=dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                             num_attention_heads=12, num_key_value_heads=2))))
