"""Write synthetic videos in the SA-V layout with Sa2VA's pseudo-label expression file.

The videos are those of :func:`~desa2va_mm.synthetic.mevis_writer.make_synthetic_mevis`
for the same ``(seed, index, num_frames, image_size, layout)``; every object that some
single-object expression names gets that expression as its description. Layout (loads
with ``desa2va_mm.datasets.SAVDataset(data_root=DIR, data_prefix=dict(video_path=
'sav_train/'))``)::

    DIR/sam_v_final_v3.json                    # {video: {video_path, anno_path, objects}}
    DIR/sav_train/sav_000/<video>.mp4          # 24 fps: annotated frame k at frame 4 k
    DIR/sav_train/sav_000/<video>_manual.json  # {"masklet": [[RLE per object] per frame],
                                               #  "video_height", "video_width", ...}

SA-V annotates every 4th frame of a 24 fps video; the writer repeats each synthetic frame
``stride`` times, so decoded frame ``stride * k`` shows annotated frame ``k``. The mp4 is
H.264 at ``crf=0`` in yuv420p: decoded frames differ from the JPEG-free originals only by
the colour subsampling. PyAV (``av``) is imported when the writer runs.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Callable, Dict, Optional

import numpy as np

from .coco_io import encode_rle, write_json
from .mevis_writer import VIDEO_LAYOUTS

__all__ = ['SAV_EXPRESSION_FILE', 'SAV_VIDEO_DIR', 'make_synthetic_sav', 'sav_video_id']

SAV_EXPRESSION_FILE = 'sam_v_final_v3.json'
SAV_VIDEO_DIR = 'sav_train'
_FPS = 24


def sav_video_id(index: int) -> str:
    """SA-V's video naming (``sav_000001``) for synthetic video ``index``."""
    return 'sav_%06d' % index


def _write_mp4(path: str, frames, stride: int) -> None:
    import av
    height, width = frames[0].shape[:2]
    with av.open(path, mode='w') as container:
        stream = container.add_stream('libx264', rate=_FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = 'yuv420p'
        stream.options = {'crf': '0', 'preset': 'ultrafast'}
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format='bgr24')
            for _ in range(stride):
                for packet in stream.encode(picture):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_synthetic_sav(out_dir: str, num_videos: int, num_frames: int = 12, seed: int = 0,
                       image_size: int = 128, stride: int = 4, layout: str = 'default',
                       progress: Optional[Callable[[int, int], None]] = None
                       ) -> Dict[str, Any]:
    """Write a synthetic SA-V-layout set (layout in the module docstring).

    Args:
        out_dir: Output directory (created if missing).
        num_videos: Videos (> 0); video ``i`` is the MeViS writer's video ``i``.
        num_frames: Annotated frames per video (>= 2).
        seed: Dataset seed (>= 0).
        image_size: Side of the square frames (>= 64, even for H.264).
        stride: Decoded frames per annotated frame (SA-V: 4).
        layout: A key of :data:`~desa2va_mm.synthetic.mevis_writer.VIDEO_LAYOUTS`.
        progress: Optional ``progress(done, total)`` callback per video.

    Returns:
        Summary: ``num_videos`` (those with at least one described object),
        ``num_objects`` (described masklets), ``num_masklets`` (all masklets written),
        ``video_ids`` ``{sav id: synthetic index}``.
    """
    for name, value, low in (('num_videos', num_videos, 1), ('num_frames', num_frames, 2),
                             ('image_size', image_size, 64), ('seed', seed, 0),
                             ('stride', stride, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f'{name} must be an int >= {low}, got {value!r}')
    if image_size % 2:
        raise ValueError(f'image_size must be even (H.264 in yuv420p), got {image_size}')
    if layout not in VIDEO_LAYOUTS:
        raise ValueError(f'layout must be one of {sorted(VIDEO_LAYOUTS)}, got {layout!r}')
    folder = osp.join(out_dir, SAV_VIDEO_DIR, 'sav_000')
    os.makedirs(folder, exist_ok=True)
    expressions: Dict[str, dict] = {}
    ids: Dict[str, int] = {}
    num_objects = num_masklets = 0
    for index in range(int(num_videos)):
        video = VIDEO_LAYOUTS[layout](seed, index, num_frames, image_size)
        # One description per object: the first single-object expression naming it.
        objects: Dict[str, dict] = {}
        for text, _, target in video['expressions']:
            if len(target) == 1 and str(target[0]) not in objects:
                objects[str(target[0])] = {'formated': text, 'short_caps': [text]}
        num_masklets += len(video['masks'])
        if not objects:
            continue
        video_id = sav_video_id(index)
        _write_mp4(osp.join(folder, video_id + '.mp4'), video['frames'], int(stride))
        masks = np.asarray(video['masks'])  # (N, T, S, S)
        write_json(osp.join(folder, video_id + '_manual.json'), {
            'video_id': video_id, 'video_height': int(image_size),
            'video_width': int(image_size), 'video_frame_count': int(num_frames * stride),
            'masklet_id': list(range(len(masks))), 'masklet_num': len(masks),
            'masklet': [[encode_rle(masks[o, t]) for o in range(len(masks))]
                        for t in range(num_frames)]})
        expressions[video_id] = {
            'video_path': f'sav_000/{video_id}.mp4',
            'anno_path': f'sav_000/{video_id}_manual.json',
            'objects': dict(sorted(objects.items(), key=lambda kv: int(kv[0])))}
        ids[video_id] = index
        num_objects += len(objects)
        if progress is not None:
            progress(index + 1, int(num_videos))
    # Written last: its presence marks a complete set.
    write_json(osp.join(out_dir, SAV_EXPRESSION_FILE), expressions)
    return dict(out_dir=out_dir, num_videos=len(expressions), num_objects=num_objects,
                num_masklets=num_masklets, video_ids=ids)
