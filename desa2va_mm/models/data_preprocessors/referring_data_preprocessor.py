"""Batch SAM-2 images, InternVL tiles and token sequences; prepare streamed video frames."""
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor

from desa2va_mm.registry import MODELS
from desa2va_mm.structures import check_resize_backend, resize_image
from .frame_stream import FrameStream

IGNORE_INDEX = -100


def pad_sequences(seqs: Sequence[torch.Tensor], value: int, side: str) -> torch.Tensor:
    """Stack 1-D tensors into (B, L_max), padding on the ``'left'`` or ``'right'``."""
    length = max(len(s) for s in seqs)
    out = seqs[0].new_full((len(seqs), length), value)
    for i, s in enumerate(seqs):
        if side == 'left':
            out[i, length - len(s):] = s
        else:
            out[i, :len(s)] = s
    return out


@MODELS.register_module()
class ReferringDataPreprocessor(BaseDataPreprocessor):
    """Turn packed samples into the model's ``inputs`` dict.

    Returns ``{'inputs': dict, 'data_samples': list}`` where ``inputs`` holds:

    * ``images`` (B, 3, S, S): SAM-2 images, RGB, normalised with ``mean`` / ``std``;
    * ``pixel_values`` (T, 3, s, s) and ``num_tiles`` (B,): InternVL tiles of all samples;
    * ``input_ids`` / ``attention_mask`` (M, L) and ``labels`` (M, L) or None: every token
      sequence of the batch (training: one per sample, right padded; prediction: one per
      sentence, left padded for generation);
    * ``seq_image_idx`` (M,): the sample each sequence belongs to;
    * ``expression_ids`` / ``expression_mask`` (N, Lx) and ``target_image_idx`` (N,): the
      tokens of each target's expression (right padded) and its sample, when the pipeline
      provides them (DeSa2VA's text anchor);
    * ``prompt_masks`` (B entries, (R, H, W) bool or None) and ``sample_names``, when a
      sample has region prompts (docs/visual_prompts.md).

    Video frames streamed at test time are prepared here too, a few at a time as they are
    read (:meth:`prepare_frame`, :meth:`stream_frames`): resized to ``frame_size`` and
    normalised exactly as images are.

    Args:
        mean: Per-channel mean of 0-255 RGB images (ImageNet, SAM-2).
        std: Per-channel std.
        bgr_to_rgb: Images come from ``LoadImageFromFile`` in BGR order.
        pad_token_id: Id used for padding (masked out; set by the model from its tokenizer).
        frame_size: Side S of the square SAM-2 input streamed frames are resized to; None
            is set by the model to its SAM-2 ``image_size``.
        frame_resize: How streamed frames are resized (``desa2va_mm.structures.
            resize_image``): ``'pillow'`` (PIL bicubic, Sa2VA's resize and the image
            pipelines' ``DirectResize``; the real-size models) or ``'cv2'`` (OpenCV
            bilinear; the tiny models' published figures).
        frame_read_ahead: Frames a stream reads and prepares together
            (:class:`FrameStream` ``read_ahead``): memory holds that many prepared frames
            (12 MB each at 1024 px), whatever the video's length; 1 prepares each frame
            only when the model asks for it.
        non_blocking: Copy tensors to the device without blocking.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 bgr_to_rgb: bool = True,
                 pad_token_id: int = 0,
                 frame_size: Optional[int] = None,
                 frame_resize: str = 'cv2',
                 frame_read_ahead: int = 8,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.register_buffer('mean', torch.tensor(mean).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_token_id = pad_token_id
        self.frame_size = frame_size
        self.frame_resize = check_resize_backend(
            frame_resize, f'{type(self).__name__}: frame_resize (model.data_preprocessor)')
        if isinstance(frame_read_ahead, bool) or not isinstance(frame_read_ahead, int) \
                or frame_read_ahead < 1:
            raise ValueError(f'{type(self).__name__}: frame_read_ahead '
                             f'(model.data_preprocessor) must be an int >= 1, got '
                             f'{frame_read_ahead!r}')
        self.frame_read_ahead = frame_read_ahead

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) 0-255 images in the pipeline's channel order -> normalised RGB."""
        images = images.float()
        if self.bgr_to_rgb:
            images = images[:, [2, 1, 0]]
        return (images - self.mean) / self.std

    def prepare_frame(self, frame: np.ndarray) -> torch.Tensor:
        """One ``(H, W, 3)`` uint8 frame (BGR) -> ``(1, 3, S, S)`` normalised SAM-2 input.

        Resized to ``frame_size`` on the CPU (aspect ratio not kept, as the image
        pipelines resize; PIL bicubic or OpenCV bilinear as ``frame_resize`` says), then
        moved to the device and normalised.
        """
        if self.frame_size is None:
            raise RuntimeError('ReferringDataPreprocessor.frame_size is not set: the model '
                               'sets it to its SAM-2 image size when it is built')
        resized = resize_image(frame, (self.frame_size, self.frame_size), self.frame_resize)
        # One uint8 copy to channel-first (RGB when asked), one float tensor normalised in
        # place: the same arithmetic as ``normalize`` without its three float temporaries
        # (12 MB each for a 1024 px frame).
        chw = resized.transpose(2, 0, 1)
        if self.bgr_to_rgb:
            chw = chw[::-1]
        image = torch.from_numpy(np.ascontiguousarray(chw)).to(self.device)
        return image.unsqueeze(0).float().sub_(self.mean).div_(self.std)

    def stream_frames(self, frames: Iterable, *, video_id: Optional[str] = None,
                      frame_names: Optional[Sequence[str]] = None,
                      num_frames: Optional[int] = None) -> FrameStream:
        """A lazy :class:`FrameStream` of ``frames`` prepared by :meth:`prepare_frame`.

        Args:
            frames: ``(H, W, 3)`` uint8 BGR arrays (a frame source, a list, a generator).
            video_id, frame_names, num_frames: See :class:`FrameStream` (taken from the
                source when it has them).
        """
        return FrameStream(frames, self.prepare_frame, video_id=video_id,
                           frame_names=frame_names, num_frames=num_frames,
                           read_ahead=self.frame_read_ahead)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        samples = data['data_samples']
        if any(not isinstance(x, torch.Tensor) for x in data['inputs']):
            return self.stream_batch(data)
        inputs = dict(images=self.normalize(torch.stack([img.float()
                                                         for img in data['inputs']])))
        inputs.update(self.mllm_inputs(samples))
        return dict(inputs=inputs, data_samples=samples)

    def stream_batch(self, data: dict) -> dict:
        """A test batch of videos packed as lazy frame sources (``PackVideoReferringInputs``).

        Test videos need nothing video-specific here (every frame is prepared as an image
        is), so any model predicts them, one trained on images only included.

        Args:
            data: Collated ``inputs`` (one frame source per sample) and ``data_samples``.

        Returns:
            dict ``inputs`` (:meth:`mllm_inputs`, prompts left padded, plus
            ``video_frames``: one lazy :class:`FrameStream` per sample; no ``images``) and
            ``data_samples``.

        Raises:
            ValueError: The batch mixes frame sources with frame tensors.
        """
        samples, sources = data['data_samples'], data['inputs']
        if any(isinstance(x, torch.Tensor) for x in sources):
            raise ValueError('a batch mixes streamed test videos with frame tensors; test '
                             'batches hold video samples only')
        inputs = self.mllm_inputs(samples)
        inputs['video_frames'] = [
            self.stream_frames(source, video_id=sample.metainfo.get('video_id'),
                               frame_names=sample.metainfo.get('frame_names'))
            for source, sample in zip(sources, samples)]
        return dict(inputs=inputs, data_samples=samples)

    def mllm_inputs(self, samples: Sequence) -> dict:
        """Everything but the SAM-2 images: InternVL tiles, token sequences, expressions.

        Args:
            samples: The batch's data samples (``pixel_values``, ``input_ids``, optional
                ``labels`` and ``expression_ids`` fields).

        Returns:
            dict ``pixel_values``, ``num_tiles``, ``input_ids``, ``attention_mask``,
            ``labels``, ``seq_image_idx`` and, when every sample has them,
            ``expression_ids``, ``expression_mask``, ``target_image_idx`` (see the class).
        """
        pixel_values = torch.cat([s.pixel_values for s in samples]).to(self.device)
        num_tiles = [len(s.pixel_values) for s in samples]

        seqs: List[torch.Tensor] = []
        labels: List[torch.Tensor] = []
        seq_image_idx: List[int] = []
        has_labels = all('labels' in s for s in samples)
        for i, s in enumerate(samples):
            seqs.extend(s.input_ids)
            seq_image_idx.extend([i] * len(s.input_ids))
            if has_labels:
                labels.extend(s.labels)
        side = 'right' if has_labels else 'left'
        input_ids = pad_sequences(seqs, self.pad_token_id, side).to(self.device)
        attention_mask = pad_sequences([torch.ones_like(s) for s in seqs], 0, side).to(self.device)
        inputs = dict(
            pixel_values=pixel_values,
            num_tiles=num_tiles,
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=pad_sequences(labels, IGNORE_INDEX, side).to(self.device) if has_labels
            else None,
            seq_image_idx=torch.tensor(seq_image_idx, dtype=torch.long, device=self.device))
        if all('expression_ids' in s for s in samples):
            exprs = [e for s in samples for e in s.expression_ids]
            if exprs:
                inputs['expression_ids'] = pad_sequences(exprs, self.pad_token_id,
                                                         'right').to(self.device)
                inputs['expression_mask'] = pad_sequences(
                    [torch.ones_like(e) for e in exprs], 0, 'right').to(self.device)
                inputs['target_image_idx'] = torch.tensor(
                    [i for i, s in enumerate(samples) for _ in s.expression_ids],
                    dtype=torch.long, device=self.device)
        if any('prompt_masks' in s for s in samples):
            inputs['prompt_masks'] = [s.prompt_masks.to(self.device) if 'prompt_masks' in s
                                      else None for s in samples]
            inputs['sample_names'] = [str(s.metainfo.get('img_path', f'sample {i}'))
                                      for i, s in enumerate(samples)]
        return inputs
