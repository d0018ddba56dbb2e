"""Special tokens shared by every tokenizer of the package, the data pipeline and the model.

The grounding and image tokens are Sa2VA's set: the model adds them to any tokenizer it
loads, the pipeline writes ``<img>`` + ``<IMG_CONTEXT>`` x N + ``</img>`` for an image, and
the model finds ``[SEG]`` by its id.
"""
__all__ = [
    'SEG_TOKEN', 'IMG_START_TOKEN', 'IMG_END_TOKEN', 'IMG_CONTEXT_TOKEN', 'GROUNDING_TOKENS',
    'IMAGE_TOKENS', 'CHAT_TOKENS'
]

#: Tokens the grounding model adds to any tokenizer (Sa2VA's set).
SEG_TOKEN = '[SEG]'
IMG_START_TOKEN = '<img>'
IMG_END_TOKEN = '</img>'
IMG_CONTEXT_TOKEN = '<IMG_CONTEXT>'
GROUNDING_TOKENS = (SEG_TOKEN, '<p>', '</p>', '<vp>', '</vp>')
IMAGE_TOKENS = (IMG_START_TOKEN, IMG_END_TOKEN, IMG_CONTEXT_TOKEN)

#: Chat-template markers of the Qwen2 / InternLM2 templates used by InternVL2.5.
CHAT_TOKENS = ('<|im_start|>', '<|im_end|>', '<|endoftext|>')
