"""Batch SAM-2 images, InternVL tiles and token sequences."""
from typing import List, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from desa2va_mm.registry import MODELS

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
      provides them (DeSa2VA's text anchor).

    Args:
        mean: Per-channel mean of 0-255 RGB images (ImageNet, SAM-2).
        std: Per-channel std.
        bgr_to_rgb: Images come from ``LoadImageFromFile`` in BGR order.
        pad_token_id: Id used for padding (masked out; set by the model from its tokenizer).
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 bgr_to_rgb: bool = True,
                 pad_token_id: int = 0,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.register_buffer('mean', torch.tensor(mean).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_token_id = pad_token_id

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        samples = data['data_samples']
        images = torch.stack([img.float() for img in data['inputs']])
        if self.bgr_to_rgb:
            images = images[:, [2, 1, 0]]
        images = (images - self.mean) / self.std

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
            images=images,
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
        return dict(inputs=inputs, data_samples=samples)
