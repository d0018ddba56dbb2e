"""Grounded conversation generation (GCG) metrics on GranD-f, after GLaMM's evaluation."""
import contextlib
import io
import shutil
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from desa2va_mm.registry import METRICS
from desa2va_mm.structures import decode_rle, encode_masks, rle_area, rle_bbox
from ..functional.cider import cider_d
from ..functional.gcg import (get_phrase_matcher, grounded_matches, image_miou,
                              parse_gcg_answer)

#: Metrics :class:`GCGMetric` can report.
GCG_METRICS = ('mask_AP', 'mask_AP50', 'mIoU', 'recall', 'CIDEr', 'METEOR')


def meteor_scorer():
    """pycocoevalcap's METEOR (a Java program), or None with the reason it is missing."""
    try:
        from pycocoevalcap.meteor.meteor import Meteor
    except ImportError:
        return None, ('METEOR needs pycocoevalcap (pip install pycocoevalcap), which is not '
                      'installed')
    if shutil.which('java') is None:
        return None, 'METEOR needs a Java runtime (pycocoevalcap runs meteor-1.5.jar)'
    return Meteor, ''


@METRICS.register_module()
class GCGMetric(BaseMetric):
    """GCG scores of one image set: masks (AP, mIoU), grounding (recall), captions (CIDEr,
    METEOR), all in percent (docs/gcg.md).

    Each prediction carries ``pred_answers`` (its first answer is the generated GCG text,
    read with :func:`~desa2va_mm.evaluation.functional.parse_gcg_answer`),
    ``pred_instances.masks`` (one per ``[SEG]``; rows of the first prompt, by
    ``sentence_idx``, are used, and none when the answer has no ``[SEG]``) and the ground
    truth ``gt_masks`` (G, H, W), ``gt_caption`` and ``gt_phrases`` (G, one per mask).

    * ``mask_AP`` / ``mask_AP50``: COCO mask AP (pycocotools ``COCOeval``, ``segm``, one
      class) of every predicted mask against every ground-truth mask; all predictions
      score 1.0 as in GLaMM's script (``use_model_scores=True`` ranks by the model's
      predicted IoU instead).
    * ``mIoU``: per image, masks paired greedily by highest IoU (GLaMM's pairing), mean IoU
      of the pairs; averaged over images (an image without a pair scores 0).
    * ``recall``: ground-truth phrases grounded: pairs with mask IoU >= 0.5 and phrase
      similarity >= ``text_threshold`` (GLaMM's greedy rule), over all ground-truth phrases.
      GLaMM compares phrases by the cosine of BERT embeddings; here ``phrase_matcher``
      decides (``'token_overlap'``: word-overlap F1; ``'exact'``; or any callable
      ``f(gt, pred) -> float``), so the figure is not GLaMM's.
    * ``CIDEr``: CIDEr-D of the captions (:func:`~desa2va_mm.evaluation.functional.cider_d`).
    * ``METEOR``: pycocoevalcap's METEOR when it and Java are installed; otherwise left out
      of the results with a logged reason (never estimated).

    Args:
        metric: Subset of :data:`GCG_METRICS`.
        phrase_matcher: Phrase similarity for recall (name or callable).
        iou_threshold: Mask IoU a grounded phrase needs for recall.
        text_threshold: Phrase similarity a grounded phrase needs for recall.
        use_model_scores: Rank predictions for AP by ``pred_instances.scores``.
        **kwargs: ``BaseMetric`` arguments (``prefix``, ``collect_device``).
    """

    default_prefix = 'gcg'

    def __init__(self, metric: Sequence[str] = GCG_METRICS,
                 phrase_matcher: Union[str, Callable[[str, str], float]] = 'token_overlap',
                 iou_threshold: float = 0.5, text_threshold: float = 0.5,
                 use_model_scores: bool = False, **kwargs) -> None:
        unknown = set(metric) - set(GCG_METRICS)
        if unknown or not metric:
            raise ValueError(f'metric must be a non-empty subset of {GCG_METRICS}, got '
                             f'{list(metric)}')
        super().__init__(**kwargs)
        self.metrics = tuple(metric)
        self.similarity = get_phrase_matcher(phrase_matcher)
        self.iou_threshold = iou_threshold
        self.text_threshold = text_threshold
        self.use_model_scores = use_model_scores

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            where = sample.get('img_path', '<unknown image>')
            for key in ('gt_masks', 'gt_caption', 'gt_phrases'):
                if key not in sample:
                    raise KeyError(f'{where}: GCGMetric needs {key!r} in the metainfo; use '
                                   'BuildGCGConversation(mode="test") and list it in '
                                   "PackReferringInputs' meta_keys (configs/_base_/gcg_test/)")
            answers = sample.get('pred_answers') or ['']
            caption, phrases, num_seg = parse_gcg_answer(answers[0])
            pred = sample['pred_instances']
            masks = torch.as_tensor(pred['masks']).bool().cpu()
            scores = torch.as_tensor(pred.get('scores', torch.ones(len(masks)))).float().cpu()
            if 'sentence_idx' in pred:
                rows = torch.as_tensor(pred['sentence_idx']).cpu() == 0
                masks, scores = masks[rows], scores[rows]
            if num_seg == 0:
                masks, scores = masks[:0], scores[:0]  # the placeholder row of no [SEG]
            gt = sample['gt_masks'].to_ndarray().astype(np.uint8)
            h, w = gt.shape[-2:]
            if masks.numel() and tuple(masks.shape[-2:]) != (h, w):
                raise ValueError(f'{where}: predicted masks {tuple(masks.shape)} and ground '
                                 f'truth {gt.shape} differ in size')
            self.results.append(dict(
                height=h, width=w, gt_rles=encode_masks(gt.reshape(-1, h, w)),
                pred_rles=encode_masks(masks.numpy().reshape(-1, h, w)),
                pred_scores=scores.tolist(), pred_caption=caption, pred_phrases=phrases,
                gt_caption=sample['gt_caption'], gt_phrases=list(sample['gt_phrases'])))

    # ------------------------------------------------------------------ metrics
    @staticmethod
    def _masks(rles: List[dict], h: int, w: int) -> np.ndarray:
        return np.stack([decode_rle(r) for r in rles]) if rles else np.zeros((0, h, w),
                                                                            np.uint8)

    def _mask_ap(self, results: list) -> Dict[str, float]:
        images, gts, dts = [], [], []
        for k, r in enumerate(results, start=1):
            images.append(dict(id=k, height=r['height'], width=r['width']))
            for rle in r['gt_rles']:
                gts.append(dict(id=len(gts) + 1, image_id=k, category_id=1, segmentation=rle,
                                area=float(rle_area(rle)), bbox=rle_bbox(rle), iscrowd=0))
            for rle, score in zip(r['pred_rles'], r['pred_scores']):
                dts.append(dict(image_id=k, category_id=1, segmentation=rle,
                                score=score if self.use_model_scores else 1.0))
        if not gts or not dts:
            return dict(mask_AP=0.0, mask_AP50=0.0)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO()
            coco_gt.dataset = dict(images=images, annotations=gts,
                                   categories=[dict(id=1, name='object')])
            coco_gt.createIndex()
            coco_eval = COCOeval(coco_gt, coco_gt.loadRes(dts), 'segm')
            coco_eval.params.catIds = [1]
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        stats = coco_eval.stats
        return dict(mask_AP=100.0 * max(0.0, float(stats[0])),
                    mask_AP50=100.0 * max(0.0, float(stats[1])))

    def _meteor(self, results: list) -> Optional[float]:
        scorer, reason = meteor_scorer()
        if scorer is None:
            print_log(f'GCGMetric: METEOR not reported: {reason}.', logger='current')
            return None
        gts = {k: [r['gt_caption']] for k, r in enumerate(results)}
        res = {k: [r['pred_caption']] for k, r in enumerate(results)}
        score, _ = scorer().compute_score(gts, res)
        return 100.0 * float(score)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        out: Dict[str, float] = {}
        if {'mask_AP', 'mask_AP50'} & set(self.metrics):
            ap = self._mask_ap(results)
            out.update({k: v for k, v in ap.items() if k in self.metrics})
        mious, found, total = [], 0, 0
        for r in results:
            gt = self._masks(r['gt_rles'], r['height'], r['width'])
            pred = self._masks(r['pred_rles'], r['height'], r['width'])
            mious.append(image_miou(pred, gt) if len(pred) and len(gt) else 0.0)
            total += len(r['gt_phrases'])
            found += len(grounded_matches(gt, r['gt_phrases'], pred, r['pred_phrases'],
                                          self.similarity, self.iou_threshold,
                                          self.text_threshold))
        if 'mIoU' in self.metrics:
            out['mIoU'] = 100.0 * float(np.mean(mious)) if mious else 0.0
        if 'recall' in self.metrics:
            out['recall'] = 100.0 * found / total if total else 0.0
        if 'CIDEr' in self.metrics:
            score, _ = cider_d([r['pred_caption'] for r in results],
                               [[r['gt_caption']] for r in results])
            # CIDEr-D on the toolkit's scale, in percent as GLaMM's tables report it.
            out['CIDEr'] = 100.0 * score
        if 'METEOR' in self.metrics:
            meteor = self._meteor(results)
            if meteor is not None:
                out['METEOR'] = meteor
        return out
