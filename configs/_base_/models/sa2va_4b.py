# Sa2VA-4B baseline at real size: InternVL2.5-4B = InternViT-300M-448px-V2_5 + MLP projector
# + Qwen2.5-3B-Instruct (untied LM head) with SAM-2 hiera-L (see sa2va_1b.py for paths).
_base_ = ['sa2va_1b.py']

# Qwen2.5-3B-Instruct (hidden 2048, 36 layers, 16 heads, 2 KV heads, MLP 11008).
# Chat template: Sa2VA's 4B recipe trains on xtuner's phi3_chat (<|user|> ... <|end|>), not
# the ChatML its Qwen2.5 LLM would imply, and its release's config.json says
# template: phi3_chat; inferring from the LLM would give qwen2 (the importer refuses such a
# release against it). --cfg-options model.mllm.chat_template=qwen2 gives Sa2VA's
# qwen_chat 4B variant.
model = dict(
    mllm=dict(
        chat_template='phi3',
        model_config=dict(
            text_config=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                             num_attention_heads=16, num_key_value_heads=2))))
