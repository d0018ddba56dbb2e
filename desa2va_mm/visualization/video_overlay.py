"""Overlays of several expressions' masks on video frames, and an MP4 writer."""
import textwrap
from typing import List, Optional, Sequence

import numpy as np

from .referring_seg_visualizer import overlay_mask, text_strip

#: RGB colours of expressions 0, 1, 2 ... (cycled).
PALETTE = ((230, 40, 40), (40, 120, 230), (40, 200, 40), (240, 180, 20), (200, 60, 220),
           (20, 200, 200), (250, 120, 60), (120, 80, 40))


def draw_masks(frame_rgb: np.ndarray, masks: np.ndarray, texts: Sequence[str],
               answers: Optional[Sequence[str]] = None, min_size: int = 320,
               header: Optional[str] = None) -> np.ndarray:
    """Every expression's mask on one frame, in its own colour, with a legend above.

    Args:
        frame_rgb: (H, W, 3) RGB uint8 frame.
        masks: (E, H, W) bool masks, one per expression.
        texts: E expressions.
        answers: E answers of the model (drawn after each expression).
        min_size: The frame is upscaled so its shorter side is at least this.
        header: Optional first legend line (e.g. the frame index).

    Returns:
        (H' + legend, W', 3) RGB uint8 canvas.
    """
    import cv2
    h, w = frame_rgb.shape[:2]
    scale = max(1.0, min_size / min(h, w))
    size = (int(round(w * scale)), int(round(h * scale)))
    canvas = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_LINEAR)
    lines: List[str] = [header] if header else []
    colours = []
    for i, text in enumerate(texts):
        colour = PALETTE[i % len(PALETTE)]
        colours.append(colour)
        mask = cv2.resize(masks[i].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        canvas = overlay_mask(canvas, mask, colour)
        answer = f' -> {answers[i]}' if answers is not None else ''
        lines.append(f'[{i}] "{text}"{answer}')
    legend = text_strip(lines, canvas.shape[1])
    # A colour bar left of each expression's (possibly wrapped) lines; wrapping as in
    # text_strip (scale 0.5: 9 px per character, 22 px per line).
    wrapped = [len(textwrap.wrap(line, max(10, canvas.shape[1] // 9)) or ['']) for line in lines]
    first = 1 if header else 0
    for i, colour in enumerate(colours):
        y0 = 22 * sum(wrapped[:first + i])
        legend[y0 + 3:y0 + 22 * wrapped[first + i] + 3, 0:3] = colour
    return np.concatenate([legend, canvas], axis=0)


class VideoWriter:
    """Write RGB frames to an MP4 (PyAV, H.264), falling back to OpenCV's ``mp4v``.

    Frames may change size after the first (legend wrapping): each is padded / cropped to
    the first frame's size, rounded up to even sides (H.264 with yuv420p needs them).

    Args:
        path: Output ``.mp4`` file.
        fps: Frames per second.
    """

    def __init__(self, path: str, fps: float = 10.0) -> None:
        self.path = path
        self.fps = fps
        self._size = None
        self._container = self._stream = self._cv2_writer = None

    def _open(self, height: int, width: int) -> None:
        self._size = (height + height % 2, width + width % 2)
        try:
            import av
            from fractions import Fraction
            self._container = av.open(self.path, mode='w')
            self._stream = self._container.add_stream(
                'libx264', rate=Fraction(self.fps).limit_denominator(1000))
            self._stream.height, self._stream.width = self._size
            self._stream.pix_fmt = 'yuv420p'
        except Exception:  # noqa: BLE001  (no PyAV / no libx264: OpenCV's mp4v)
            import cv2
            if self._container is not None:
                self._container.close()
            self._container = self._stream = None
            self._cv2_writer = cv2.VideoWriter(
                self.path, cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                (self._size[1], self._size[0]))

    def write(self, frame_rgb: np.ndarray) -> None:
        if self._size is None:
            self._open(*frame_rgb.shape[:2])
        h, w = self._size
        frame = np.full((h, w, 3), 255, np.uint8)
        fh, fw = min(h, frame_rgb.shape[0]), min(w, frame_rgb.shape[1])
        frame[:fh, :fw] = frame_rgb[:fh, :fw]
        if self._stream is not None:
            import av
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                self._container.mux(packet)
        else:
            self._cv2_writer.write(np.ascontiguousarray(frame[..., ::-1]))

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        elif self._cv2_writer is not None:
            self._cv2_writer.release()
        self._stream = self._container = self._cv2_writer = None

    def __enter__(self) -> 'VideoWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
