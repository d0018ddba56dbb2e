"""An mmdet single-stage detector whose boxes prompt desa2va's ``SAM2VisualHead``."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import SingleStageDetector
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor

from desa2va_mm.models.builder import build_in_scope
from desa2va_mm.registry import MODELS
from desa2va_mm.utils.checkpoint_safety import warn_if_unguarded


@MODELS.register_module()
class BoxPromptedSAM2(SingleStageDetector):
    """Detector boxes -> SAM-2 box prompts -> instance masks.

    Any mmdet single-stage detector (backbone, neck, ``bbox_head``, e.g. RetinaNet or FCOS)
    finds boxes; :class:`~desa2va_mm.models.SAM2Grounding` encodes the same normalised
    batch once; each box becomes SAM-2's two box-corner prompt tokens
    (``SAM2Grounding.box_prompts``, the prompt encoder's box embedding) and
    :class:`~desa2va_mm.models.SAM2VisualHead` decodes its mask. Training supervises the
    detector with its own losses and the mask head on ground-truth boxes (as SAM trains on
    box prompts) with ``loss_mask`` + ``loss_dice``; prediction prompts with the detected
    boxes, so mmdet's ``CocoMetric(metric=['bbox', 'segm'])`` scores both.

    Images reach SAM-2 resized (bilinear) from the detector's padded input to SAM-2's
    square ``image_size``; box coordinates are scaled the same way. Both use the ImageNet
    mean / std of ``DetDataPreprocessor`` (SAM-2's normalisation).

    Args:
        backbone, neck, bbox_head, train_cfg, test_cfg, data_preprocessor, init_cfg: As
            mmdet's ``SingleStageDetector`` (so an mmdet detector config is inherited as is).
        grounding_encoder: ``SAM2Grounding`` config.
        mask_head: ``SAM2VisualHead`` (or ``SAM2MaskHead``) config; the decoder's
            constructor arguments are filled from the grounding encoder.
        loss_mask: Per-pixel mask loss (default sigmoid BCE x2.0).
        loss_dice: Dice loss (default x0.5).
        max_train_masks: Most ground-truth boxes per batch the mask head trains on
            (random subset), bounding the decoder's memory.
        mask_threshold: Logit threshold of the predicted masks.
        init_head_from_sam2: Copy SAM-2's (pretrained) decoder into the head.
    """

    def __init__(self,
                 backbone: dict,
                 bbox_head: dict,
                 grounding_encoder: dict,
                 mask_head: dict,
                 neck: Optional[dict] = None,
                 loss_mask: Optional[dict] = None,
                 loss_dice: Optional[dict] = None,
                 max_train_masks: int = 64,
                 mask_threshold: float = 0.0,
                 init_head_from_sam2: bool = True,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, bbox_head=bbox_head,
                         train_cfg=train_cfg, test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.grounding_encoder = build_in_scope(grounding_encoder)
        mask_head = dict(mask_head)
        for key, value in self.grounding_encoder.mask_decoder_kwargs().items():
            mask_head.setdefault(key, value)
        self.mask_head = build_in_scope(mask_head)
        if init_head_from_sam2:
            self.mask_head.init_from_decoder(self.grounding_encoder.mask_decoder)
        self.loss_mask = build_in_scope(loss_mask or dict(
            type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=2.0))
        self.loss_dice = build_in_scope(loss_dice or dict(
            type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
            naive_dice=True, eps=1.0, loss_weight=0.5))
        if max_train_masks < 1:
            raise ValueError(f'max_train_masks must be >= 1, got {max_train_masks}')
        self.max_train_masks = max_train_masks
        self.mask_threshold = mask_threshold

    # ------------------------------------------------------------------ SAM-2 side
    def _sam_inputs(self, batch_inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, Hp, Wp) detector input -> SAM-2 images (B, 3, S, S) and the (x, y)
        scale from input pixels to SAM-2 pixels (2,)."""
        size = self.grounding_encoder.image_size
        hp, wp = batch_inputs.shape[-2:]
        images = batch_inputs
        if (hp, wp) != (size, size):
            images = F.interpolate(batch_inputs, size=(size, size), mode='bilinear',
                                   align_corners=False)
        scale = batch_inputs.new_tensor([size / wp, size / hp])
        return images, scale

    def decode_boxes(self, image_feats: dict, boxes: torch.Tensor, image_idx: torch.Tensor,
                     scale: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Masks of boxes.

        Args:
            image_feats: ``SAM2Grounding.encode_image`` output for the batch.
            boxes: (N, 4) xyxy boxes in detector-input pixels.
            image_idx: (N,) image of each box.
            scale: (2,) x / y factor from detector-input to SAM-2 pixels.

        Returns:
            ``SAM2MaskHead`` outputs: ``low_res_logits`` (N, 1, S/4, S/4), ``iou_pred`` (N,).
        """
        sparse = self.grounding_encoder.box_prompts(boxes * scale.repeat(2))
        dense = self.grounding_encoder.dense_prompts(len(boxes))
        return self.mask_head(image_feats, sparse.to(boxes.dtype), dense, image_idx)

    # ------------------------------------------------------------------ loss
    def loss(self, batch_inputs: torch.Tensor,
             batch_data_samples: List[DetDataSample]) -> Dict[str, torch.Tensor]:
        # Once per model: a runner without desa2va_mm's checkpoint guards is named.
        warn_if_unguarded(self)
        losses = super().loss(batch_inputs, batch_data_samples)
        images, scale = self._sam_inputs(batch_inputs)
        image_feats = self.grounding_encoder.encode_image(images)
        hp, wp = batch_inputs.shape[-2:]
        boxes, image_idx, gt_masks = [], [], []
        for i, sample in enumerate(batch_data_samples):
            gt = sample.gt_instances
            if len(gt) == 0:
                continue
            boxes.append(get_box_tensor(gt.bboxes).float())
            image_idx.append(torch.full((len(gt), ), i, dtype=torch.long,
                                        device=batch_inputs.device))
            masks = gt.masks.to_tensor(torch.float32, batch_inputs.device)
            # Masks are at img_shape; the batch is padded (bottom / right) to (Hp, Wp).
            gt_masks.append(F.pad(masks, (0, wp - masks.shape[-1], 0, hp - masks.shape[-2])))
        if not boxes:
            # No object in the batch: a zero-weighted pass keeps every parameter in the graph.
            zero = self.decode_boxes(image_feats, batch_inputs.new_zeros(1, 4),
                                     torch.zeros(1, dtype=torch.long,
                                                 device=batch_inputs.device),
                                     scale)['low_res_logits'].sum() * 0
            losses.update(loss_mask=zero, loss_dice=zero)
            return losses
        boxes, image_idx, gt_masks = torch.cat(boxes), torch.cat(image_idx), torch.cat(gt_masks)
        if len(boxes) > self.max_train_masks:
            keep = torch.randperm(len(boxes), device=boxes.device)[:self.max_train_masks]
            boxes, image_idx, gt_masks = boxes[keep], image_idx[keep], gt_masks[keep]
        logits = self.decode_boxes(image_feats, boxes, image_idx, scale)['low_res_logits']
        pred = F.interpolate(logits, size=(hp, wp), mode='bilinear',
                             align_corners=False).squeeze(1)
        losses['loss_mask'] = self.loss_mask(pred, gt_masks)
        losses['loss_dice'] = self.loss_dice(pred, gt_masks)
        return losses

    # ------------------------------------------------------------------ predict
    def predict(self, batch_inputs: torch.Tensor, batch_data_samples: List[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        """Detect, then one mask per box; boxes and masks at the original resolution when
        ``rescale`` (``pred_instances``: ``bboxes`` (n, 4), ``scores``, ``labels``,
        ``masks`` (n, H, W) bool, ``mask_scores`` (n,) SAM-2's predicted IoU)."""
        x = self.extract_feat(batch_inputs)
        results_list = self.bbox_head.predict(x, batch_data_samples, rescale=False)
        images, scale = self._sam_inputs(batch_inputs)
        image_feats = self.grounding_encoder.encode_image(images)
        hp, wp = batch_inputs.shape[-2:]
        counts = [len(r) for r in results_list]
        all_boxes = torch.cat([get_box_tensor(r.bboxes) for r in results_list]).float()
        image_idx = torch.repeat_interleave(
            torch.arange(len(counts), device=batch_inputs.device),
            torch.tensor(counts, device=batch_inputs.device))
        if len(all_boxes):
            out = self.decode_boxes(image_feats, all_boxes, image_idx, scale)
            logits_all = out['low_res_logits'].split(counts)
            iou_all = out['iou_pred'].split(counts)
        for i, (results, sample) in enumerate(zip(results_list, batch_data_samples)):
            h, w = sample.metainfo['img_shape'][:2]
            out_h, out_w = sample.metainfo['ori_shape'][:2] if rescale else (h, w)
            if counts[i] == 0:
                results.masks = torch.zeros(0, out_h, out_w, dtype=torch.bool,
                                            device=batch_inputs.device)
                results.mask_scores = batch_inputs.new_zeros(0)
            else:
                logits = F.interpolate(logits_all[i], size=(hp, wp), mode='bilinear',
                                       align_corners=False)[..., :h, :w]
                if (out_h, out_w) != (h, w):
                    logits = F.interpolate(logits, size=(out_h, out_w), mode='bilinear',
                                           align_corners=False)
                results.masks = logits[:, 0] > self.mask_threshold
                results.mask_scores = iou_all[i]
            if rescale and counts[i]:
                factor = results.bboxes.new_tensor(sample.metainfo['scale_factor']).repeat(2)
                results.bboxes = results.bboxes / factor
        return self.add_pred_to_datasample(batch_data_samples, results_list)
