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
from desa2va_mm.structures import REGION_PLACEHOLDER, box_to_mask
from desa2va_mm.datasets.video_io import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FrameSource,
                                          open_frame_source)

__all__ = [
    'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS', 'PIPELINE_TEMPLATE', 'ImageType', 'VideoType',
    'list_images', 'load_image', 'check_texts', 'open_video', 'check_history',
    'build_prompts', 'chat_prompt', 'RegionType', 'region_masks', 'parse_region_box',
    'with_region_placeholder'
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


#: One region prompt: an ``(x1, y1, x2, y2)`` pixel box, an (H, W) mask array (non-zero =
#: inside) or the path of a mask image (PNG; non-zero pixels = inside).
RegionType = Union[Sequence[float], np.ndarray, str]


def parse_region_box(text: str) -> List[float]:
    """``'x1,y1,x2,y2'`` (a demo's ``--region``) -> four numbers.

    Raises:
        ValueError: Not four comma-separated numbers.
    """
    parts = [p.strip() for p in str(text).split(',')]
    try:
        box = [float(p) for p in parts]
    except ValueError:
        box = []
    if len(box) != 4:
        raise ValueError(f'--region {text!r}: expected x1,y1,x2,y2 (four numbers, pixels)')
    return box


def is_region(item) -> bool:
    """Whether ``item`` is one region (a box, a mask array or a mask path)."""
    if isinstance(item, (str, os.PathLike)):
        return True
    if isinstance(item, np.ndarray):
        return item.ndim == 2 or (item.ndim == 1 and item.shape[0] == 4)
    return isinstance(item, (list, tuple)) and len(item) == 4 and all(
        isinstance(v, (int, float, np.integer, np.floating)) for v in item)


def region_masks(regions: Optional[Union[np.ndarray, Sequence[RegionType]]],
                 shape: Tuple[int, int], where: str) -> Optional[np.ndarray]:
    """Region prompts -> (R, H, W) bool masks on an image of ``shape`` (docs/visual_prompts.md).

    Args:
        regions: None / ``[]`` (no region), an (R, H, W) array, or a list of regions
            (:data:`RegionType`), in the order the question names them (``region1`` ...).
        shape: (H, W) of the image (or video frame) the regions are drawn on.
        where: The input, for error messages.

    Returns:
        (R, H, W) bool, or None without regions.

    Raises:
        FileNotFoundError: A mask file that does not exist.
        ValueError: A mask of another size, an empty region, a malformed or outside box
            (each names the input and the region).
    """
    if regions is None:
        return None
    if isinstance(regions, np.ndarray) and regions.ndim == 3:
        regions = list(regions)
    if is_region(regions):
        regions = [regions]
    regions = list(regions)
    if not regions:
        return None
    height, width = shape
    masks = []
    for r, region in enumerate(regions, start=1):
        name = f'{where}: region{r}'
        if isinstance(region, (str, os.PathLike)):
            import mmcv
            path = os.fspath(region)
            if not osp.isfile(path):
                raise FileNotFoundError(f'{name}: mask file {path!r} does not exist')
            mask = mmcv.imread(path, flag='unchanged')
            if mask is None:
                raise ValueError(f'{name}: cannot read mask file {path!r}')
            mask = mask.any(axis=2) if mask.ndim == 3 else mask != 0
        elif isinstance(region, np.ndarray) and region.ndim == 2:
            mask = region != 0
        elif is_region(region):
            try:
                mask = box_to_mask([float(v) for v in region], (height, width))
            except ValueError as err:
                raise ValueError(f'{name}: {err}') from None
        else:
            raise ValueError(f'{name}: expected an (x1, y1, x2, y2) box, an (H, W) mask or '
                             f'a mask file, got {type(region).__name__}')
        if mask.shape != (height, width):
            raise ValueError(f'{name}: mask of size {mask.shape[1]}x{mask.shape[0]} on an '
                             f'image of size {width}x{height}')
        if not mask.any():
            raise ValueError(f'{name}: the mask is empty (no pixel inside)')
        masks.append(mask)
    return np.stack(masks)


def with_region_placeholder(prompts: List[List[Turn]]) -> List[List[Turn]]:
    """Put the region list placeholder right after the image in each prompt's first turn
    (where the model was trained to read it: ``<image>\n<regions>question``)."""
    out = []
    for conv in prompts:
        conv = [dict(turn) for turn in conv]
        user = conv[0]['user']
        if REGION_PLACEHOLDER not in user:
            if IMAGE_PLACEHOLDER in user:
                head, tail = user.split(IMAGE_PLACEHOLDER, 1)
                user = head + IMAGE_PLACEHOLDER + '\n' + REGION_PLACEHOLDER + tail.lstrip('\n')
            else:
                user = REGION_PLACEHOLDER + user
            conv[0]['user'] = user
        out.append(conv)
    return out
