"""``HFPretrainedTokenizer``: a Hugging Face tokenizer folder plus the grounding tokens."""
from typing import Sequence

from desa2va_mm.registry import TOKENIZERS
from .special_tokens import GROUNDING_TOKENS, IMAGE_TOKENS


@TOKENIZERS.register_module()
def HFPretrainedTokenizer(path: str,
                          extra_special_tokens: Sequence[str] = GROUNDING_TOKENS + IMAGE_TOKENS,
                          trust_remote_code: bool = False,
                          **kwargs):
    """Load a Hugging Face tokenizer from a local folder and add the grounding tokens.

    Args:
        path: Local folder (or hub id when the machine can reach the hub).
        extra_special_tokens: Tokens added when missing (``[SEG]``, ``<p>`` ... and the
            InternVL image tokens).
        trust_remote_code: Run tokenizer code shipped with the checkpoint. Off by default: a
            checkpoint folder must not be able to run code unless the user opts in.
        **kwargs: Passed to ``AutoTokenizer.from_pretrained``.
    """
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(
        path, trust_remote_code=trust_remote_code, **kwargs)
    missing = [t for t in extra_special_tokens if t not in tokenizer.get_vocab()]
    if missing:
        # transformers 5 names them extra_special_tokens (v4: additional_special_tokens)
        tokenizer.add_special_tokens({'extra_special_tokens': missing},
                                     replace_extra_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
