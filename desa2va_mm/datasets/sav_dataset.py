"""SA-V videos with pseudo-labelled object descriptions (Sa2VA's SA-V training set)."""
from __future__ import annotations

import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from desa2va_mm.registry import DATASETS
from .video_io import FrameSource, open_frame_source
from .video_referring_dataset import VideoReferringDataset, load_json

#: SA-V releases its videos at 24 fps and annotates every 4th frame (6 fps): masklet entry
#: ``k`` is decoded frame ``4 * k`` (Sa2VA reads the mp4 and keeps ``frames[::4]``).
SAV_ANNOTATION_STRIDE = 4


class StridedFrameSource(FrameSource):
    """Every ``stride``-th frame of a video file or frame folder, opened on first read.

    The length is the number of annotated frames, known from the annotation file, so
    sampling frame ids does not decode or even open the video.

    Args:
        path: The mp4 (or any :data:`~desa2va_mm.datasets.video_io.VIDEO_EXTENSIONS`
            file) or a folder of frames at the full frame rate.
        num_frames: Annotated frames ``K``: frame ``k`` is decoded frame ``stride * k``.
        stride: Decoded frames per annotated frame.
        video_id: Name for error messages.
    """

    def __init__(self, path: str, num_frames: int, stride: int = SAV_ANNOTATION_STRIDE,
                 video_id: Optional[str] = None) -> None:
        if num_frames < 1 or stride < 1:
            raise ValueError(f'video {video_id!r}: num_frames and stride must be >= 1, got '
                             f'{num_frames} and {stride}')
        self.path = path
        self.stride = int(stride)
        self.video_id = video_id if video_id is not None else osp.basename(path)
        self.frame_names = ['%05d' % (self.stride * k) for k in range(int(num_frames))]

    def get_frames(self, indices: Sequence[int]) -> List[np.ndarray]:
        wanted = [self._check_index(i) * self.stride for i in indices]
        with open_frame_source(self.path, video_id=self.video_id) as source:
            if wanted and max(wanted) >= len(source):
                raise ValueError(
                    f'video {self.video_id!r}: {self.path} has {len(source)} frames, too few '
                    f'for {len(self)} annotated frames every {self.stride} (needs > '
                    f'{max(wanted)}); the annotation file belongs to another video?')
            return source.get_frames(wanted)

    def _read(self, index: int) -> np.ndarray:
        return self.get_frames([index])[0]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(path={self.path!r}, num_frames={len(self)}, '
                f'stride={self.stride})')


@DATASETS.register_module()
class SAVDataset(VideoReferringDataset):
    """SA-V videos with one pseudo-labelled description per masklet (Sa2VA's layout)::

        <data_root>/<ann_file>                  # e.g. sam_v_final_v3.json
            {VIDEO: {"video_path": "sav_000/sav_000001.mp4",
                     "anno_path": "sav_000/sav_000001_manual.json",
                     "objects": {OBJ: {"formated": LONG DESCRIPTION,
                                       "short_caps": [SHORT, ...]}}}}
        <data_root>/<data_prefix.video_path>/sav_000/sav_000001.mp4       # 24 fps
        <data_root>/<data_prefix.video_path>/sav_000/sav_000001_manual.json
            {"masklet": [[RLE of masklet 0, RLE of masklet 1, ...] per annotated frame],
             "video_height": H, "video_width": W, ...}     # SA-V's own annotation file

    ``OBJ`` is the masklet's index in each frame's RLE list. Annotated frame ``k`` is the
    video's decoded frame ``4 k`` (SA-V annotates at 6 fps); ``video_path`` may also name a
    folder of the 24 fps frames. ``anno_path`` may point at a ``_manual.json`` or an
    ``_auto.json``: both hold the same ``masklet`` field.

    Each object becomes one expression (``exp_id`` = ``OBJ``, text = its ``formated`` long
    description, Sa2VA's default ``mode='long'``) whose mask is that masklet. The
    annotation file of a video is read when its item is fetched (SA-V's masklet files are
    large; Sa2VA reads them lazily too), which adds ``mask_rles``, ``height``, ``width``
    and ``video_source`` (a :class:`StridedFrameSource`) to the item. A training set: the
    items carry no ``frame_paths``, so ``test_mode`` is refused.

    Args:
        ann_file: The expression file, relative to ``data_root``.
        data_prefix: ``dict(video_path=...)``: the folder the ``video_path`` and
            ``anno_path`` entries are relative to.
        caption: ``'formated'`` (the long description, the key's spelling as released).
        stride: Decoded frames per annotated frame.
        **kwargs: ``BaseDataset`` arguments (``data_root``, ``pipeline``, ...).
    """

    METAINFO = dict(dataset_type='referring_video')

    def __init__(self,
                 ann_file: str = 'sam_v_final_v3.json',
                 data_prefix: Optional[dict] = None,
                 caption: str = 'formated',
                 stride: int = SAV_ANNOTATION_STRIDE,
                 **kwargs) -> None:
        if kwargs.get('test_mode'):
            raise ValueError('SAVDataset is a training set (pseudo-labelled descriptions, no '
                             'evaluation protocol): set test_mode=False')
        if caption != 'formated':
            raise ValueError(f"caption must be 'formated' (the long description), got "
                             f'{caption!r}')
        if stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        self.caption = caption
        self.stride = int(stride)
        super().__init__(ann_file=ann_file, mask_file=None,
                         data_prefix=data_prefix or dict(video_path=''), **kwargs)

    # ------------------------------------------------------------------ loading
    def _where(self, video_id: str, obj: Optional[str] = None) -> str:
        text = f'{self._owner}: video {video_id!r}'
        return text + (f', object {obj!r}' if obj is not None else '') + \
            f' in {self.ann_file}'

    def load_data_list(self) -> List[dict]:
        meta = load_json(self.ann_file, 'expression file', self._owner)
        if not isinstance(meta, dict) or not meta:
            raise ValueError(f'{self._owner}: expression file {self.ann_file} must map video '
                             'ids to {"video_path", "anno_path", "objects"}; it is empty or '
                             'not a mapping')
        folder = self.data_prefix.get('video_path', '')
        data_list = []
        for video_id, entry in meta.items():
            video_id = str(video_id)
            video_path = self._field(entry, 'video_path', f'video {video_id!r}', str)
            anno_path = self._field(entry, 'anno_path', f'video {video_id!r}', str)
            objects = self._field(entry, 'objects', f'video {video_id!r}', dict)
            if not objects:
                raise ValueError(f'{self._where(video_id)} has no object')
            expressions = []
            for obj in sorted(objects, key=lambda k: (not str(k).isdigit(),
                                                      int(k) if str(k).isdigit() else 0,
                                                      str(k))):
                if not str(obj).isdigit():
                    raise ValueError(f'{self._where(video_id, obj)}: object keys are masklet '
                                     'indices ("0", "1", ...)')
                text = self._field(objects[obj], self.caption,
                                   f'video {video_id!r}, object {obj!r}', str)
                text = ' '.join(text.split())
                if not text:
                    raise ValueError(f'{self._where(video_id, obj)} has an empty '
                                     f'"{self.caption}"')
                expressions.append(dict(exp_id=str(obj), expression=text, type_id=None,
                                        mask_source=dict(anno_ids=[str(obj)])))
            data_list.append(dict(video_id=video_id,
                                  video_path=osp.join(folder, video_path),
                                  anno_path=osp.join(folder, anno_path),
                                  expressions=expressions))
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """The item with its annotation file read (``mask_rles``, size, frame source)."""
        info = super().get_data_info(idx)
        info.update(self.read_annotations(info))
        return info

    def read_annotations(self, info: dict) -> Dict[str, Any]:
        """Read a video's SA-V annotation file into the keys the pipeline needs.

        Returns:
            dict: ``mask_rles`` ``{OBJ: [RLE] * K}`` for the item's objects, ``height``,
            ``width``, ``frame_names`` (K, ``'%05d'`` of the decoded frame index) and
            ``video_source`` (:class:`StridedFrameSource` over ``video_path``).

        Raises:
            FileNotFoundError / ValueError: naming the video and the annotation file.
        """
        video_id, path = info['video_id'], info['anno_path']
        anno = load_json(path, f'annotation file of video {video_id!r}', self._owner)
        masklet = anno.get('masklet') if isinstance(anno, dict) else None
        if not isinstance(masklet, list) or not masklet:
            raise ValueError(f'{self._owner}: video {video_id!r}: annotation file {path} has '
                             'no "masklet" list (one list of per-object RLEs per annotated '
                             'frame)')
        objs = [e['mask_source']['anno_ids'][0] for e in info['expressions']]
        need = max(int(o) for o in objs) + 1
        rles: Dict[str, list] = {o: [] for o in objs}
        for k, frame_rles in enumerate(masklet):
            if not isinstance(frame_rles, list) or len(frame_rles) < need:
                got = len(frame_rles) if isinstance(frame_rles, list) else \
                    type(frame_rles).__name__
                raise ValueError(f'{self._owner}: video {video_id!r}: annotated frame {k} of '
                                 f'{path} has {got} masklet RLEs; the expression file names '
                                 f'object {need - 1}')
            for o in objs:
                rles[o].append(frame_rles[int(o)])
        height, width = self._size(anno, rles, video_id, path)
        return dict(mask_rles=rles, height=height, width=width,
                    frame_names=['%05d' % (self.stride * k) for k in range(len(masklet))],
                    video_source=StridedFrameSource(info['video_path'], len(masklet),
                                                    self.stride, video_id))

    def _size(self, anno: dict, rles: Dict[str, list], video_id: str, path: str) -> tuple:
        if 'video_height' in anno and 'video_width' in anno:
            return int(anno['video_height']), int(anno['video_width'])
        for per_frame in rles.values():
            for rle in per_frame:
                if isinstance(rle, dict) and len(rle.get('size') or ()) == 2:
                    return int(rle['size'][0]), int(rle['size'][1])
        raise ValueError(f'{self._owner}: video {video_id!r}: {path} has neither '
                         '"video_height"/"video_width" nor an RLE with a "size"')

    def num_expressions(self) -> int:
        """Described masklets over all videos (read from the expression file only)."""
        return sum(len(super(SAVDataset, self).get_data_info(i)['expressions'])
                   for i in range(len(self)))
