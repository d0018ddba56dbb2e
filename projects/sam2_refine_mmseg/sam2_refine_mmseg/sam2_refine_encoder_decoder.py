"""An mmseg ``EncoderDecoder`` whose coarse per-class masks prompt desa2va's SAM-2 head."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.losses import accuracy
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import add_prefix


@MODELS.register_module()
class SAM2RefineEncoderDecoder(EncoderDecoder):
    """Semantic segmentation: mmseg decode head -> per-class SAM-2 mask prompts -> refined logits.

    Any mmseg ``EncoderDecoder`` (backbone, optional neck, decode head, optional auxiliary
    head) predicts coarse logits (B, K, h, w). Each class k of each image becomes one SAM-2
    prompt: the coarse log-odds of k, ``logit(softmax(coarse)_k)``, as SAM-2's dense mask
    prompt (the prompt encoder's mask embedding, ``SAM2Grounding.dense_prompts``), and a
    learned token of class k (``class_embed``) after SAM-2's two padding tokens.
    :class:`~desa2va_mm.models.SAM2VisualHead` decodes the B x K prompts against the image
    features :class:`~desa2va_mm.models.SAM2Grounding` computes once per image; its
    low-res logits (B, K, S/4, S/4), one channel per class, are added to the coarse logits
    (bilinear to S/4): the refined segmentation logits (argmax over classes, as mmseg's
    post-processing does).

    Training: the decode head (and auxiliary head) keep their own losses (``decode.*``,
    ``aux.*``); the refined logits get ``loss_refine`` (cross-entropy against the label
    map, ``refine.loss_ce``) and ``refine.acc_seg``. The prompt is the coarse prediction
    detached: the decode head learns from its own loss only, the refinement learns to
    correct whatever the head predicts.

    Images reach SAM-2 resized (bilinear) from the segmentor's padded input to SAM-2's
    square ``image_size``; mmseg's ``SegDataPreProcessor`` already normalises with the
    ImageNet mean / std in RGB, which is SAM-2's normalisation.

    Args:
        backbone, decode_head, neck, auxiliary_head, train_cfg, test_cfg,
        data_preprocessor, pretrained, init_cfg: As mmseg's ``EncoderDecoder`` (an mmseg
            model config merges into this one as it is).
        grounding_encoder: ``SAM2Grounding`` config.
        mask_head: ``SAM2VisualHead`` (or ``SAM2MaskHead``) config; the decoder's
            constructor arguments are filled from the grounding encoder.
        loss_refine: Loss of the refined logits (default mmseg's softmax
            ``CrossEntropyLoss``, weight 1.0).
        init_head_from_sam2: Copy SAM-2's (pretrained) decoder into the head.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 grounding_encoder: dict,
                 mask_head: dict,
                 neck: Optional[dict] = None,
                 auxiliary_head: Optional[dict] = None,
                 loss_refine: Optional[dict] = None,
                 init_head_from_sam2: bool = True,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, decode_head=decode_head, neck=neck,
                         auxiliary_head=auxiliary_head, train_cfg=train_cfg,
                         test_cfg=test_cfg, data_preprocessor=data_preprocessor,
                         pretrained=pretrained, init_cfg=init_cfg)
        self.grounding_encoder = MODELS.build(grounding_encoder)
        mask_head = dict(mask_head)
        for key, value in self.grounding_encoder.mask_decoder_kwargs().items():
            mask_head.setdefault(key, value)
        self.mask_head = MODELS.build(mask_head)
        if init_head_from_sam2:
            self.mask_head.init_from_decoder(self.grounding_encoder.mask_decoder)
        self.class_embed = nn.Embedding(self.num_classes, self.grounding_encoder.hidden_dim)
        self.loss_refine = MODELS.build(loss_refine or dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))

    # ------------------------------------------------------------------ SAM-2 side
    def refine(self, inputs: torch.Tensor, coarse_logits: torch.Tensor) -> torch.Tensor:
        """Refined per-class logits from coarse ones.

        Args:
            inputs: (B, 3, Hp, Wp) normalised, padded batch (the segmentor's input).
            coarse_logits: (B, K, h, w) decode-head logits (any resolution).

        Returns:
            (B, K, S/4, S/4) logits, S = SAM-2's ``image_size``: the coarse logits
            (detached, bilinear to S/4) + channel k's correction, the mask SAM-2 decodes
            from class k's prompt.
        """
        size = self.grounding_encoder.image_size
        images = inputs
        if inputs.shape[-2:] != (size, size):
            images = F.interpolate(inputs, size=(size, size), mode='bilinear',
                                   align_corners=False)
        image_feats = self.grounding_encoder.encode_image(images)
        batch, num_classes = coarse_logits.shape[:2]
        num = batch * num_classes
        # Per-class log-odds of the (detached) coarse prediction: SAM-2's mask prompts are
        # binary logits, one object per prompt.
        probs = coarse_logits.detach().float().softmax(dim=1).clamp(1e-4, 1 - 1e-4)
        mask_prompts = torch.logit(probs).flatten(0, 1).unsqueeze(1)  # (B*K, 1, h, w)
        class_tokens = self.class_embed.weight.repeat(batch, 1).unsqueeze(1)  # (B*K, 1, C)
        sparse = torch.cat([self.grounding_encoder.padding_prompts(num).to(class_tokens),
                            class_tokens], dim=1)
        dense = self.grounding_encoder.dense_prompts(num, mask_prompts)
        image_idx = torch.arange(batch, device=inputs.device).repeat_interleave(num_classes)
        correction = self.mask_head(image_feats, sparse, dense, image_idx)['low_res_logits']
        correction = correction.view(batch, num_classes, *correction.shape[-2:])
        # Residual: the coarse logits carry the class decision from the first step on; the
        # SAM-2 head adds what its stride-4 features see (boundaries, thin parts).
        coarse = F.interpolate(coarse_logits.detach().float(), size=correction.shape[-2:],
                               mode='bilinear', align_corners=self.align_corners)
        return coarse + correction

    # ------------------------------------------------------------------ mmseg API
    def encode_decode(self, inputs: torch.Tensor,
                      batch_img_metas: List[dict]) -> torch.Tensor:
        """Refined logits (B, K, Hp, Wp) at the input size (mmseg's post-processing
        crops the padding and resizes to each image's original size)."""
        coarse = self.decode_head.forward(self.extract_feat(inputs))
        return resize(self.refine(inputs, coarse), size=inputs.shape[2:], mode='bilinear',
                      align_corners=self.align_corners)

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> torch.Tensor:
        """Tensor mode: the refined logits (B, K, S/4, S/4)."""
        return self.refine(inputs, self.decode_head.forward(self.extract_feat(inputs)))

    def loss(self, inputs: torch.Tensor, data_samples: list) -> Dict[str, torch.Tensor]:
        """``decode.*`` (and ``aux.*``) losses of the mmseg heads + ``refine.loss_ce`` and
        ``refine.acc_seg`` of the refined logits against ``gt_sem_seg``."""
        x = self.extract_feat(inputs)
        coarse = self.decode_head.forward(x)
        losses = add_prefix(self.decode_head.loss_by_feat(coarse, data_samples), 'decode')
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        labels = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1).long()
        logits = resize(self.refine(inputs, coarse), size=labels.shape[-2:], mode='bilinear',
                        align_corners=self.align_corners)
        ignore = self.decode_head.ignore_index
        losses['refine.loss_ce'] = self.loss_refine(logits, labels, ignore_index=ignore)
        losses['refine.acc_seg'] = accuracy(logits, labels, ignore_index=ignore)
        return losses
