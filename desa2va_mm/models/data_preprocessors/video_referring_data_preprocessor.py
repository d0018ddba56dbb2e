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
    * test (samples with no frames: the model streams them from ``frame_paths``):
      ``videos=True``, ``images`` empty (0, 3, 1, 1), left-padded prompts.

    Args: as :class:`ReferringDataPreprocessor`.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data['data_samples']
        if not any(s.metainfo.get('is_video', False) for s in samples):
            return super().forward(data, training)
        frames = [x if x.dim() == 4 else x.unsqueeze(0) for x in data['inputs']]
        streamed = [len(f) == 0 for f in frames]
        if any(streamed) and not all(streamed):
            raise ValueError('a batch mixes streamed test videos with frame tensors; test '
                             'batches hold video samples only')
        # The parent batches tiles, sequences and expressions; it only needs one image per
        # sample, so give it placeholders and put the frames in afterwards.
        size = 1 if all(streamed) else frames[0].shape[-1]
        placeholders = [torch.zeros(3, size, size, dtype=torch.uint8) for _ in frames]
        out = super().forward(dict(inputs=placeholders, data_samples=samples), training)
        inputs = out['inputs']
        if all(streamed):
            inputs['images'] = inputs['images'][:0]
            inputs['videos'] = True
            return out
        sizes = {tuple(f.shape[-2:]) for f in frames}
        if len(sizes) > 1:
            raise ValueError(f'frames of one batch must share the SAM-2 input size, got '
                             f'{sorted(sizes)}')
        images = torch.cat(frames).to(self.device).float()
        if self.bgr_to_rgb:
            images = images[:, [2, 1, 0]]
        inputs['images'] = (images - self.mean) / self.std
        inputs['frame_sample_idx'] = torch.repeat_interleave(
            torch.arange(len(frames), device=self.device),
            torch.tensor([len(f) for f in frames], device=self.device))
        return out
