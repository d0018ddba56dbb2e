"""The DeSa2VA model: InternVL reads, [SEG] states prompt SAM-2 mask heads."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from desa2va_mm.registry import MODELS


@MODELS.register_module()
class DeSa2VA(BaseModel):
    """Referring segmentation with an MLLM and SAM-2 (Sa2VA / DeSa2VA, DESIGN.md §1-3).

    Data flow: SAM-2 encodes each image once (``grounding_encoder``); InternVL reads the
    image tiles and the conversation (``mllm``); the last-layer states at ``[SEG]`` tokens
    are mapped to SAM-2 prompt tokens (``seg_projector``: Sa2VA's ``text_hidden_fcs``);
    the mask head decodes ``[2 padding tokens; prompt token]`` against the shared image
    features.

    Modes: ``loss`` returns ``loss_lm``, ``loss_mask`` (BCE) and ``loss_dice``;
    ``predict`` generates the answer for every sentence, decodes the first ``[SEG]`` of
    each answer and returns one ``DetDataSample`` per image with
    ``pred_instances.masks`` (N, H, W) at original resolution in sentence order (an answer
    without ``[SEG]`` gives an empty mask); ``tensor`` returns the low-res logits.

    Args:
        mllm: ``InternVLMLLM`` config.
        grounding_encoder: ``SAM2Grounding`` config.
        mask_head: ``SAM2MaskHead`` config; decoder dims are filled from the grounding
            encoder, and its weights copied from SAM-2's decoder when
            ``init_head_from_sam2``.
        seg_projector: Config of the [SEG] -> prompt mapping (default ``Sa2VAProjection``);
            ``in_channels`` / ``out_channels`` are filled in.
        loss_mask: Per-pixel mask loss (mmdet ``CrossEntropyLoss`` with sigmoid; Sa2VA x2.0).
        loss_dice: Dice loss (mmdet ``DiceLoss``; Sa2VA x0.5).
        loss_lm_weight: Weight of the language-model loss.
        init_head_from_sam2: Copy the pretrained SAM-2 decoder into the head.
        max_new_tokens: Generation budget per sentence at test.
        mask_threshold: Logit threshold of the final masks.
        data_preprocessor: ``ReferringDataPreprocessor`` config.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 *,
                 mllm: dict,
                 grounding_encoder: dict,
                 mask_head: dict,
                 seg_projector: Optional[dict] = None,
                 loss_mask: Optional[dict] = None,
                 loss_dice: Optional[dict] = None,
                 loss_lm_weight: float = 1.0,
                 init_head_from_sam2: bool = True,
                 max_new_tokens: int = 16,
                 mask_threshold: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ReferringDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here, not by BaseModel, which would look in mmengine's root registry
            # when no default scope is set.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.mllm = MODELS.build(mllm)
        self.grounding_encoder = MODELS.build(grounding_encoder)
        self.data_preprocessor.pad_token_id = self.mllm.tokenizer.pad_token_id

        hidden, prompt_dim = self.mllm.hidden_size, self.grounding_encoder.hidden_dim
        seg_projector = dict(seg_projector or dict(type='Sa2VAProjection'))
        seg_projector.setdefault('in_channels', hidden)
        seg_projector.setdefault('out_channels', prompt_dim)
        # Attribute name kept from Sa2VA so its checkpoints map key for key.
        self.text_hidden_fcs = MODELS.build(seg_projector)

        mask_head = dict(mask_head)
        for key, value in self.grounding_encoder.mask_decoder_kwargs().items():
            mask_head.setdefault(key, value)
        self.mask_head = MODELS.build(mask_head)
        if init_head_from_sam2:
            self.mask_head.init_from_decoder(self.grounding_encoder.mask_decoder)

        self.loss_mask = MODELS.build(loss_mask or dict(
            type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=2.0))
        self.loss_dice = MODELS.build(loss_dice or dict(
            type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
            naive_dice=True, eps=1.0, loss_weight=0.5))
        self.loss_lm_weight = loss_lm_weight
        self.max_new_tokens = max_new_tokens
        self.mask_threshold = mask_threshold

    # ------------------------------------------------------------------ entry point
    def forward(self, inputs: dict, data_samples: Optional[List[DetDataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f"Invalid mode {mode!r}; options: 'loss', 'predict', 'tensor'")

    # ------------------------------------------------------------------ shared pieces
    def _image_tokens_per_sequence(self, image_embeds: torch.Tensor, num_tiles: Sequence[int],
                                   seq_image_idx: torch.Tensor) -> torch.Tensor:
        """Arrange per-sample tile features (T, n, H) in sequence order -> (K, H)."""
        per_sample = torch.split(image_embeds, list(num_tiles))
        if len(seq_image_idx) == len(per_sample) and \
                bool((seq_image_idx == torch.arange(len(per_sample),
                                                    device=seq_image_idx.device)).all()):
            return image_embeds.flatten(0, 1)
        return torch.cat([per_sample[i].flatten(0, 1) for i in seq_image_idx.tolist()])

    def _decode(self, image_feats: dict, seg_hidden: torch.Tensor,
                image_idx: torch.Tensor) -> Dict[str, torch.Tensor]:
        """[SEG] states (N, H) -> head outputs for N prompts."""
        tokens = self.text_hidden_fcs(seg_hidden)
        n = tokens.shape[0]
        sparse = torch.cat([self.grounding_encoder.padding_prompts(n).to(tokens.dtype),
                            tokens.unsqueeze(1)], dim=1)
        dense = self.grounding_encoder.dense_prompts(n)
        return self.mask_head(image_feats, sparse, dense, image_idx)

    def _forward(self, inputs: dict, data_samples=None) -> Dict[str, torch.Tensor]:
        """Teacher-forced pass: low-res logits of every [SEG] in the sequences."""
        image_feats = self.grounding_encoder.encode_image(inputs['images'])
        image_embeds = self.mllm.encode_images(inputs['pixel_values'])
        mllm_out = self.mllm(
            inputs['input_ids'], inputs['attention_mask'],
            self._image_tokens_per_sequence(image_embeds, inputs['num_tiles'],
                                            inputs['seq_image_idx']),
            labels=inputs.get('labels'))
        seg_mask = (inputs['input_ids'] == self.mllm.seg_token_id) & \
            inputs['attention_mask'].bool()
        seq_idx = seg_mask.nonzero()[:, 0]
        seg_hidden = mllm_out['hidden_states'][seg_mask]
        image_idx = inputs['seq_image_idx'][seq_idx]
        out = dict(mllm_out)
        out.update(seg_hidden=seg_hidden, seq_idx=seq_idx, image_idx=image_idx)
        if seg_hidden.shape[0] == 0:
            # No [SEG] in the batch (e.g. pure QA): decode one zero state and weight it 0 so
            # every rank runs the same graph (DDP needs every trained parameter used).
            seg_hidden = mllm_out['hidden_states'][:1, 0] * 0
            image_idx = inputs['seq_image_idx'][:1]
            out['dummy_seg'] = True
        out.update(self._decode(image_feats, seg_hidden, image_idx))
        return out

    # ------------------------------------------------------------------ loss
    def _gt_masks(self, data_samples: List[DetDataSample], out: dict) -> torch.Tensor:
        counts = torch.bincount(out['image_idx'], minlength=len(data_samples)).tolist()
        masks = []
        for i, sample in enumerate(data_samples):
            gt = sample.gt_instances.masks
            if len(gt) != counts[i]:
                raise ValueError(
                    f"{sample.metainfo.get('img_path', f'sample {i}')}: {len(gt)} target "
                    f'masks but {counts[i]} [SEG] tokens in its conversation')
            masks.append(gt.to_tensor(torch.float32, out['low_res_logits'].device))
        return torch.cat(masks)

    def loss(self, inputs: dict, data_samples: List[DetDataSample]) -> Dict[str, torch.Tensor]:
        out = self._forward(inputs, data_samples)
        logits = out['low_res_logits']
        losses = {}
        if 'loss_lm' in out:
            losses['loss_lm'] = out['loss_lm'] * self.loss_lm_weight
        if out.get('dummy_seg'):
            zero = logits.sum() * 0.0
            losses['loss_mask'] = zero
            losses['loss_dice'] = zero
            return losses
        gt = self._gt_masks(data_samples, out)
        pred = F.interpolate(logits, size=gt.shape[-2:], mode='bilinear',
                             align_corners=False).squeeze(1)
        losses['loss_mask'] = self.loss_mask(pred, gt)
        losses['loss_dice'] = self.loss_dice(pred, gt)
        return losses

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: List[DetDataSample]) -> List[DetDataSample]:
        image_feats = self.grounding_encoder.encode_image(inputs['images'])
        image_embeds = self.mllm.encode_images(inputs['pixel_values'])
        seq_image_idx = inputs['seq_image_idx']
        answers, seg_states = self.mllm.generate(
            inputs['input_ids'], inputs['attention_mask'],
            self._image_tokens_per_sequence(image_embeds, inputs['num_tiles'], seq_image_idx),
            max_new_tokens=self.max_new_tokens)

        # The first [SEG] of each answer decides its mask (one mask per sentence).
        has_seg = [len(s) > 0 for s in seg_states]
        low_res = None
        iou = None
        if any(has_seg):
            rows = [i for i, h in enumerate(has_seg) if h]
            hidden = torch.stack([seg_states[i][0] for i in rows])
            out = self._decode(image_feats, hidden, seq_image_idx[rows])
            low_res = dict(zip(rows, out['low_res_logits']))
            iou = dict(zip(rows, out['iou_pred']))

        results = []
        seq_of_sample = [[] for _ in data_samples]
        for m, b in enumerate(seq_image_idx.tolist()):
            seq_of_sample[b].append(m)
        for b, sample in enumerate(data_samples):
            h, w = sample.metainfo['ori_shape'][:2]
            masks, scores, texts = [], [], []
            for m in seq_of_sample[b]:
                texts.append(self.mllm.decode(answers[m]))
                if low_res is not None and m in low_res:
                    logit = F.interpolate(low_res[m][None], size=(h, w), mode='bilinear',
                                          align_corners=False)[0, 0]
                    masks.append(logit > self.mask_threshold)
                    scores.append(iou[m].float())
                else:
                    masks.append(torch.zeros(h, w, dtype=torch.bool,
                                             device=inputs['images'].device))
                    scores.append(torch.zeros((), device=inputs['images'].device))
            pred = InstanceData()
            pred.masks = torch.stack(masks) if masks else torch.zeros(
                0, h, w, dtype=torch.bool, device=inputs['images'].device)
            pred.scores = torch.stack(scores) if scores else pred.masks.new_zeros(0).float()
            sample.pred_instances = pred
            sample.set_metainfo(dict(pred_answers=texts))
            results.append(sample)
        return results
