"""Pack a video referring sample into ``inputs`` + ``DetDataSample``."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from desa2va_mm.registry import TRANSFORMS
from ..video_io import open_frame_source

DEFAULT_META_KEYS = ('video_id', 'exp_ids', 'expressions', 'type_ids', 'frame_names',
                     'ori_shape', 'img_shape', 'frame_ids', 'key_frame_ids', 'frame_paths',
                     'gt_rles', 'num_frames')


def frames_to_tensor(frames, name: str = '?') -> torch.Tensor:
    """T x (H, W, 3) frames -> (T, 3, H, W) tensor of their dtype, each frame copied once
    straight into channel-first layout (stacking first and then permuting copies twice).

    Raises:
        ValueError: The frames differ in shape (``name``: the video, for the message).
    """
    shape = frames[0].shape
    if any(f.shape != shape for f in frames):
        raise ValueError(f'video {name!r}: frames differ in shape '
                         f'({sorted(set(tuple(f.shape) for f in frames))}); put '
                         'ResizeVideoFrames before PackVideoReferringInputs')
    out = np.empty((len(frames), shape[2], shape[0], shape[1]), frames[0].dtype)
    for t, frame in enumerate(frames):
        out[t] = frame.transpose(2, 0, 1)
    return torch.from_numpy(out)


@TRANSFORMS.register_module()
class PackVideoReferringInputs(BaseTransform):
    """Video counterpart of :class:`PackReferringInputs`.

    Training: ``inputs`` = (T, 3, S, S) uint8 frames (BGR; already resized by
    :class:`ResizeVideoFrames`), ``gt_instances.masks`` = ``BitmapMasks`` (E * T, S, S),
    expression-major (row ``e * T + t``), one expression per ``[SEG]`` in conversation order.

    Test: ``inputs`` is the video's lazy frame source (``video_source`` when given, else
    ``frame_paths``; see :func:`~desa2va_mm.datasets.video_io.open_frame_source`): nothing
    is read here; the data preprocessor prepares the frames as the model streams them
    (``FrameStream``). The key frames reach the MLLM as ``pixel_values``.

    Both: the data sample carries ``pixel_values`` (K, 3, s, s), ``input_ids``, ``labels``
    (training) and ``expression_ids`` fields, and the metainfo keys of the video prediction
    contract (``video_id``, ``exp_ids``, ``expressions``, ``type_ids``, ``frame_names``,
    ``ori_shape``, ``gt_rles`` ...) that are present, plus ``is_video=True`` and
    ``num_frames``.

    Args:
        meta_keys: Result keys copied into the metainfo when present.
    """

    def __init__(self, meta_keys=DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        sample = DetDataSample()
        name = results.get('video_id', '?')
        if 'gt_masks' in results:
            frames = results['frames']
            inputs = frames_to_tensor(frames, name)
            masks = np.asarray(results['gt_masks'])
            if masks.ndim != 4 or masks.shape[1] != len(frames):
                raise ValueError(f'video {name!r}: gt_masks of shape {masks.shape} do not match '
                                 f'{len(frames)} frames (expected (E, T, H, W))')
            if masks.shape[2:] != inputs.shape[2:]:
                raise ValueError(f'video {name!r}: masks {masks.shape[2:]} and frames '
                                 f'{tuple(inputs.shape[2:])} differ in size; put '
                                 f'ResizeVideoFrames before PackVideoReferringInputs')
            instances = InstanceData()
            # copy=False: uint8 masks (LoadVideoAnnotations') are not copied once more.
            instances.masks = BitmapMasks(
                masks.reshape(-1, *masks.shape[2:]).astype(np.uint8, copy=False),
                *masks.shape[2:])
            sample.gt_instances = instances
            num_frames = len(frames)
        else:
            if results.get('video_source') is None and 'frame_paths' not in results:
                raise KeyError(f'video {name!r}: a test sample needs frame_paths or '
                               'video_source (the model streams every frame)')
            source = results.get('video_source')
            if source is None:
                inputs = open_frame_source(results['frame_paths'],
                                           video_id=results.get('video_id'),
                                           frame_names=results.get('frame_names'))
            else:
                inputs = open_frame_source(source, video_id=results.get('video_id'))
            num_frames = len(inputs)
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta['num_frames'] = num_frames
        meta['is_video'] = True
        for key in ('frame_ids', 'key_frame_ids'):
            if key in meta:
                meta[key] = [int(i) for i in meta[key]]
        sample.set_metainfo(meta)
        for key in ('pixel_values', 'input_ids', 'labels', 'expression_ids'):
            if key in results:
                sample.set_field(results[key], key)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
