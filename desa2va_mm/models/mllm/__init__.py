from .internvl_mllm import InternVLMLLM

__all__ = ['InternVLMLLM']
