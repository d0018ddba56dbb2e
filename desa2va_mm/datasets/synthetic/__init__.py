"""Synthetic datasets: small, deterministic stand-ins for real benchmarks."""
from .refcoco import (ANN_FILE, COLORS, DEFAULT_SPLIT_FRACTIONS, IMG_DIR,
                      SCENES_FILE, SHAPES, SIZES, SPLIT_FILE, VOCABULARY,
                      Scene, SceneObject, SyntheticImage, compute_split_stats,
                      enumerate_expressions, expression_kind, generate_image,
                      load_scenes, make_synthetic_refcoco, parse_expression,
                      render_expression, resolve_expression,
                      sample_referring_expressions, surface_forms)
from .mevis import (MEVIS_VOCABULARY, generate_video, make_synthetic_mevis,
                    render_video_expression, resolve_video_expression)

__all__ = [
    'ANN_FILE', 'COLORS', 'DEFAULT_SPLIT_FRACTIONS', 'IMG_DIR', 'SCENES_FILE',
    'SHAPES', 'SIZES', 'SPLIT_FILE', 'VOCABULARY', 'Scene', 'SceneObject',
    'SyntheticImage', 'compute_split_stats', 'enumerate_expressions',
    'expression_kind', 'generate_image', 'load_scenes',
    'make_synthetic_refcoco', 'parse_expression', 'render_expression',
    'resolve_expression', 'sample_referring_expressions', 'surface_forms',
    'MEVIS_VOCABULARY', 'generate_video', 'make_synthetic_mevis', 'render_video_expression',
    'resolve_video_expression'
]
