"""The scene model of the image generator: objects as the expression resolver sees them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

__all__ = ['SceneObject', 'Scene']


@dataclass(frozen=True)
class SceneObject:
    """One shape of a scene, as the resolver sees it.

    Attributes:
        shape: Shape name, one of :data:`SHAPES`.
        color: Colour name, a key of :data:`COLORS`.
        size: Size class, a key of :data:`SIZES`.
        cx: Centre x in pixels (of the full, unoccluded shape).
        cy: Centre y in pixels (image y grows downwards).
        radius: Equal-area radius of the full shape in pixels.
        full_area: Pixels of the full shape.
        visible_area: Pixels left visible after later shapes are drawn.
    """
    shape: str
    color: str
    size: str
    cx: float
    cy: float
    radius: float
    full_area: int
    visible_area: int

    @property
    def occluded(self) -> bool:
        """Whether a later shape covers part of this one."""
        return self.visible_area < self.full_area


@dataclass(frozen=True)
class Scene:
    """The objects of one image, in drawing order (later ones on top).

    Attributes:
        image_size: Side of the square image in pixels.
        objects: The objects; indices into this tuple are what
            :func:`resolve_expression` returns.
    """
    image_size: int
    objects: Tuple[SceneObject, ...]
