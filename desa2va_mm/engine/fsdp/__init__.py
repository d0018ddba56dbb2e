from .layer_wrap_policy import DEFAULT_WRAP_CLASSES, layer_wrap_policy

__all__ = ['layer_wrap_policy', 'DEFAULT_WRAP_CLASSES']
