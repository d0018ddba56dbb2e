"""Stand-ins with the formats of the real downloads, for rehearsing the real-size route.

``stand_ins`` writes small, random-weight copies of what the public releases contain (an
original-layout InternVL2.5 folder with a trained subword tokenizer, an official SAM-2
``.pt`` checkpoint, a Sa2VA Hugging Face release); ``mini_mix`` writes a few samples of
every member dataset of the Sa2VA training mix in its authors' layout. Both are used by
``tools/analysis_tools/rehearse_real_path.py`` (see docs/real_weights.md) and by tests.
Heavy libraries (transformers, sam2, OpenCV) are imported inside the functions that need
them.
"""
from .mini_mix import MiniMixSummary, corpus_texts, write_mini_mix
from .stand_ins import (INTERNLM2_CHAT_TOKENS, INTERNVL_TOKENS, QWEN2_ADDED_TOKENS,
                        SA2VA_TOKENS, STAND_IN_DIMS, train_byte_level_bpe,
                        write_internvl_original, write_sa2va_release,
                        write_sam2_checkpoint)

__all__ = [
    'INTERNLM2_CHAT_TOKENS', 'INTERNVL_TOKENS', 'QWEN2_ADDED_TOKENS', 'SA2VA_TOKENS',
    'STAND_IN_DIMS', 'train_byte_level_bpe', 'write_internvl_original',
    'write_sa2va_release', 'write_sam2_checkpoint', 'MiniMixSummary', 'corpus_texts',
    'write_mini_mix'
]
