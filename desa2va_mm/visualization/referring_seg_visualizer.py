"""Side-by-side ground truth / prediction overlays for referring segmentation."""
import textwrap
from typing import List, Optional

import cv2
import mmcv
import numpy as np
from mmdet.visualization import DetLocalVisualizer

from desa2va_mm.registry import VISUALIZERS


def overlay_mask(image: np.ndarray, mask: np.ndarray, color, alpha: float = 0.5) -> np.ndarray:
    """Blend ``color`` (RGB) into ``image`` (H, W, 3 RGB uint8) where ``mask`` is set and
    draw the mask's outline."""
    out = image.copy()
    mask = mask.astype(bool)
    if mask.any():
        out[mask] = (out[mask] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), 2)
    return out


def text_strip(lines: List[str], width: int, scale: float = 0.5) -> np.ndarray:
    """White strip with black text, wrapped to ``width`` pixels."""
    char_w = max(1, int(9 * scale / 0.5))
    wrapped: List[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, max(10, width // char_w)) or [''])
    line_h = int(22 * scale / 0.5)
    strip = np.full((line_h * len(wrapped) + 6, width, 3), 255, np.uint8)
    for i, line in enumerate(wrapped):
        cv2.putText(strip, line, (4, line_h * (i + 1) - 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return strip


@VISUALIZERS.register_module()
class ReferringSegVisualizer(DetLocalVisualizer):
    """Draw each sentence of a referring sample as one row: ``[ground truth | prediction]``.

    Referring samples have masks but no class labels, which ``DetLocalVisualizer``'s
    instance drawing requires; this visualiser needs only masks. Each row carries the
    expression and the model's answer. Works with mmdet's ``DetVisualizationHook``
    (``tools/test.py --show-dir``).

    Args:
        min_size: Images are upscaled so the shorter side is at least this (small synthetic
            images would make the text unreadable).
        gt_color: RGB colour of the ground-truth overlay.
        pred_color: RGB colour of the predicted overlay.
        **kwargs: ``DetLocalVisualizer`` arguments (``name``, ``vis_backends``, ``save_dir``).
    """

    def __init__(self, name: str = 'visualizer', min_size: int = 320,
                 gt_color=(40, 200, 40), pred_color=(230, 40, 40), **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.min_size = min_size
        self.gt_color = gt_color
        self.pred_color = pred_color

    def render(self, image: np.ndarray, texts: List[str], gt_masks: Optional[np.ndarray],
               pred_masks: Optional[np.ndarray], answers: Optional[List[str]] = None,
               scores: Optional[np.ndarray] = None) -> np.ndarray:
        """Compose the figure.

        Args:
            image: (H, W, 3) RGB uint8.
            texts: N expressions.
            gt_masks: (N, H, W) bool or None.
            pred_masks: (N, H, W) bool or None.
            answers: N generated answers.
            scores: N predicted IoUs.

        Returns:
            (H', W', 3) RGB uint8 canvas.
        """
        h, w = image.shape[:2]
        scale = max(1.0, self.min_size / min(h, w))
        size = (int(round(w * scale)), int(round(h * scale)))
        base = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)

        def resized(mask):
            return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)

        rows = []
        for i, text in enumerate(texts):
            panels = []
            if gt_masks is not None:
                panels.append(overlay_mask(base, resized(gt_masks[i]), self.gt_color))
            if pred_masks is not None:
                panels.append(overlay_mask(base, resized(pred_masks[i]), self.pred_color))
            if not panels:
                panels.append(base)
            row = np.concatenate([p if j == 0 else np.concatenate(
                [np.full((p.shape[0], 6, 3), 255, np.uint8), p], axis=1)
                for j, p in enumerate(panels)], axis=1)
            lines = [f'[{i}] "{text}"']
            label = 'left: ground truth (green)' if gt_masks is not None else ''
            if pred_masks is not None:
                label += ('  |  right: ' if label else '') + 'prediction (red)'
            if answers is not None:
                score = f' (IoU pred {float(scores[i]):.2f})' if scores is not None else ''
                lines.append(f'answer: {answers[i]}{score}')
            lines.append(label)
            rows.append(np.concatenate([text_strip(lines, row.shape[1]), row], axis=0))
        if not rows:
            return base
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                for r in rows]
        return np.concatenate(rows, axis=0)

    def add_datasample(self, name: str, image: np.ndarray, data_sample=None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3, step: int = 0) -> None:
        """Draw one sample (see :meth:`render`) and save / show it like mmdet's visualiser."""
        image = np.ascontiguousarray(image.clip(0, 255).astype(np.uint8))
        texts = list(data_sample.metainfo.get('text', []))
        gt_masks = pred_masks = answers = scores = None
        if draw_gt and 'gt_instances' in data_sample and 'masks' in data_sample.gt_instances:
            gt = data_sample.gt_instances.masks
            gt_masks = gt.to_ndarray() if hasattr(gt, 'to_ndarray') else np.asarray(gt)
            if gt_masks.shape[-2:] != image.shape[:2]:
                gt_masks = None  # resized training masks: nothing faithful to draw
        if 'gt_masks' in data_sample.metainfo:
            gt_masks = data_sample.metainfo['gt_masks'].to_ndarray()
        if draw_pred and 'pred_instances' in data_sample:
            # One row per [SEG]: each text is drawn with its answer's first mask.
            from desa2va_mm.evaluation.metrics.referring_seg_metric import sentence_rows
            pred = data_sample.pred_instances
            rows = sentence_rows(pred, name)
            pred_masks = pred.masks[rows.to(pred.masks.device)].cpu().numpy()
            scores = pred.scores[rows.to(pred.scores.device)].cpu().numpy()
            answers = data_sample.metainfo.get('pred_answers')
        if not texts:
            n = len(pred_masks) if pred_masks is not None else (
                len(gt_masks) if gt_masks is not None else 0)
            texts = [''] * n
        canvas = self.render(image, texts, gt_masks, pred_masks, answers, scores)
        self.set_image(canvas)
        if show:
            self.show(canvas, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(canvas[..., ::-1], out_file)
        else:
            self.add_image(name, canvas, step)
