"""Batch video samples (and images as 1-frame videos) for DeSa2VA."""
import torch

from desa2va_mm.registry import MODELS
from .referring_data_preprocessor import ReferringDataPreprocessor


@MODELS.register_module()
class VideoReferringDataPreprocessor(ReferringDataPreprocessor):
    """:class:`ReferringDataPreprocessor` that also takes ``PackVideoReferringInputs``.

    A batch without video samples is processed exactly as by the parent. With videos:

    * training: ``images`` (F, 3, S, S) are the frames of every sample, concatenated (an
      image sample is one frame), and ``frame_sample_idx`` (F,) their sample; everything
      else (tiles, sequences, expressions) as for images: ``seq_image_idx`` maps
      sequences to samples. The model decodes every ``[SEG]`` of a sample on each of its
      frames.
    * test (samples whose input is a frame source, not a tensor): the parent's
      :meth:`stream_batch`: ``video_frames``, one lazy :class:`~.frame_stream.FrameStream`
      per sample, which prepares each frame (:meth:`prepare_frame`) as the model pulls it;
      no ``images``. Prompts are left padded for generation.

    Args: as :class:`ReferringDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data['data_samples']
        if not any(s.metainfo.get('is_video', False) for s in samples):
            return super().forward(data, training)
        data = self.cast_data(data)
        samples, frames = data['data_samples'], data['inputs']
        if any(not isinstance(f, torch.Tensor) for f in frames):
            return self.stream_batch(data)
        frames = [x if x.dim() == 4 else x.unsqueeze(0) for x in frames]
        sizes = {tuple(f.shape[-2:]) for f in frames}
        if len(sizes) > 1:
            raise ValueError(f'frames of one batch must share the SAM-2 input size, got '
                             f'{sorted(sizes)}')
        inputs = dict(images=self.normalize(torch.cat(frames).to(self.device)))
        inputs.update(self.mllm_inputs(samples))
        inputs['frame_sample_idx'] = torch.repeat_interleave(
            torch.arange(len(frames), device=self.device),
            torch.tensor([len(f) for f in frames], device=self.device))
        return dict(inputs=inputs, data_samples=samples)
