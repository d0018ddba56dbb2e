"""User inputs of inference: images, videos, expressions, chat history and prompts.

One place for what :class:`~desa2va_mm.apis.DeSa2VAInferencer` and the demos
(``tools/demo/image_demo.py``, ``tools/demo/video_demo.py``) accept and how they check it:
every error names the input (file, video, index) and what is wrong.

Prompts: the test pipelines write single-turn prompts from expressions
(``BuildReferringConversation``); :func:`build_prompts` writes them instead when the texts
are questions (``template=None``) or use another template, and :func:`chat_prompt` writes a
multi-turn one (image chat and video chat alike). Both are lists of conversations, a
conversation a list of ``{'user': str, 'assistant': str or None}`` turns, the image
placeholder at the start of the first user turn, the last ``assistant`` None (to be
generated): what ``TokenizeConversation`` reads from ``results['prompts']``.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from desa2va_mm.datasets.transforms.build_referring_conversation import IMAGE_PLACEHOLDER
from desa2va_mm.datasets.video_io import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FrameSource,
                                          open_frame_source)

__all__ = [
    'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS', 'PIPELINE_TEMPLATE', 'ImageType', 'VideoType',
    'list_images', 'load_image', 'check_texts', 'open_video', 'check_history',
    'build_prompts', 'chat_prompt'
]

ImageType = Union[str, np.ndarray]
#: A video file, a folder of frames, a list of frame paths / BGR arrays, a (T, H, W, 3)
#: BGR array or an opened frame source.
VideoType = Union[str, Sequence[str], Sequence[np.ndarray], np.ndarray, FrameSource]
#: ``template`` value meaning: the test pipeline's own question template
#: (``BuildReferringConversation``) puts each expression into the question.
PIPELINE_TEMPLATE = 'pipeline'

Turn = Dict[str, Optional[str]]


def list_images(folder: str) -> List[str]:
    """Image files of ``folder`` (not recursive, :data:`IMAGE_EXTENSIONS`), sorted by name.

    Raises:
        ValueError: The folder holds no image file.
    """
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise ValueError(f'folder {folder!r} holds no image ({", ".join(IMAGE_EXTENSIONS)})')
    return [osp.join(folder, f) for f in names]


def load_image(image: ImageType, index: int = 0) -> Tuple[np.ndarray, Optional[str]]:
    """Read one input image as a BGR uint8 (H, W, 3) array.

    Args:
        image: A path or an (H, W, 3) BGR / (H, W) grey uint8 array.
        index: Position of the input (named in errors about arrays).

    Returns:
        ``(image, path)``: (H, W, 3) uint8 BGR; ``path`` is None for arrays.

    Raises:
        FileNotFoundError: The path does not exist.
        ValueError: The file is not a readable image, or the array has a wrong shape /
            dtype.
        TypeError: Neither a path nor an array.
    """
    import mmcv
    if isinstance(image, str):
        if not osp.isfile(image):
            raise FileNotFoundError(f'image {image!r} does not exist')
        img = mmcv.imread(image, flag='color')
        if img is None or img.size == 0:
            raise ValueError(f'cannot read image {image!r}: not an image file or corrupt')
        return img, image
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
            raise ValueError(f'input {index}: expected an (H, W, 3) BGR or (H, W) image array, '
                             f'got shape {image.shape}')
        if image.dtype != np.uint8:
            raise ValueError(f'input {index}: expected a uint8 image array, got {image.dtype}')
        return np.ascontiguousarray(image), None
    raise TypeError(f'input {index}: expected an image path or a numpy array, got '
                    f'{type(image).__name__}')


def check_texts(texts: Union[str, Sequence[str]], where: str) -> List[str]:
    """Every text must be a non-empty string.

    Args:
        texts: One text or a list.
        where: What the texts belong to (``'input 0'``, ``"video 'clip'"``), for errors.

    Returns:
        The texts as a list.

    Raises:
        ValueError: No text, or an empty / blank one (its index named).
        TypeError: A text that is not a ``str``.
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError(f'{where}: no expression or question given')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f'{where}: text {i} must be a str, got {type(text).__name__}')
        if not text.strip():
            raise ValueError(f'{where}: text {i} is empty')
    return texts


def open_video(video: VideoType) -> FrameSource:
    """Open a video as a lazy frame source (nothing decoded but the frame count).

    Args:
        video: A video file (``.mp4`` ..., decoded with PyAV), a folder of frames (sorted
            by name), a list of frame paths or of (H, W, 3) BGR uint8 arrays, a
            (T, H, W, 3) BGR uint8 array, or an already opened source.

    Returns:
        ``FrameSource`` with ``video_id`` (file / folder stem, ``'array'``),
        ``frame_names``, ``len()`` and one-frame-at-a-time iteration.

    Raises:
        FileNotFoundError: A path that does not exist.
        ValueError: A video with zero frames, a folder without image files, a path that is
            neither a folder nor a video file, a corrupt container (all naming the video).
        TypeError: An input of another type.
    """
    if isinstance(video, os.PathLike):
        video = os.fspath(video)
    return open_frame_source(video)


def check_history(history: Sequence[Turn]) -> List[Dict[str, str]]:
    """Earlier chat turns: each exactly ``{'user': str, 'assistant': str}``.

    Returns:
        A copy (the caller's list is never changed).

    Raises:
        ValueError: A turn of another form (its index named).
    """
    history = [dict(turn) for turn in history]
    for i, turn in enumerate(history):
        if set(turn) != {'user', 'assistant'} or not isinstance(turn['user'], str) \
                or not isinstance(turn['assistant'], str):
            raise ValueError(f"chat history turn {i} must be {{'user': str, "
                             f"'assistant': str}}, got {turn!r}")
    return history


def build_prompts(texts: Sequence[str],
                  template: Optional[str] = PIPELINE_TEMPLATE) -> Optional[List[List[Turn]]]:
    """Single-turn prompts of ``texts``, or None to let the test pipeline write them.

    Args:
        texts: Expressions or questions (checked with :func:`check_texts`).
        template: :data:`PIPELINE_TEMPLATE` (None returned: the pipeline's question
            template, what the model was trained on); None: each text is the question,
            used verbatim; or a question template with ``{expression}``.

    Returns:
        One conversation of one turn per text, or None.

    Raises:
        ValueError: A template without ``{expression}``.
    """
    if template == PIPELINE_TEMPLATE:
        return None
    if template is not None and '{expression}' not in template:
        raise ValueError(f'template must contain {{expression}}, got {template!r}')
    users = [t.strip() if template is None else
             template.format(expression=' '.join(t.split())) for t in texts]
    return [[dict(user=f'{IMAGE_PLACEHOLDER}\n{u}', assistant=None)] for u in users]


def chat_prompt(history: Sequence[Turn], question: str) -> List[List[Turn]]:
    """The prompt of a new chat turn: every earlier turn (with the model's answers, their
    ``[SEG]`` tokens kept) and the new question, the image placeholder once, first.

    Args:
        history: Earlier turns, already checked (:func:`check_history`).
        question: The new user turn, used verbatim.

    Returns:
        One conversation (a list with one list of turns).
    """
    turns = [dict(turn) for turn in history] + [dict(user=question.strip(), assistant=None)]
    turns[0]['user'] = f'{IMAGE_PLACEHOLDER}\n{turns[0]["user"]}'
    return [turns]
