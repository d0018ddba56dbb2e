"""Build a tokenizer from a config dict of :data:`~desa2va_mm.registry.TOKENIZERS`."""
from desa2va_mm.registry import TOKENIZERS


def build_tokenizer(cfg):
    """Build a tokenizer from a config dict (or return an already built one)."""
    if isinstance(cfg, dict):
        return TOKENIZERS.build(cfg)
    return cfg
