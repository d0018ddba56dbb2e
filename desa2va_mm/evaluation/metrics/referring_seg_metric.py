"""cIoU / gIoU for referring segmentation, with both empty-mask conventions named."""
from typing import Mapping, Sequence

import torch
from mmdet.evaluation import RefSegMetric

from desa2va_mm.registry import METRICS


def sentence_rows(pred_instances: Mapping, where: str = '<unknown image>') -> torch.Tensor:
    """The row scored for each sentence: the first of its rows, (N,) long indices.

    A model predicts one mask per ``[SEG]`` of an answer (``pred_instances.sentence_idx``
    names each row's sentence, an answer without ``[SEG]`` has one empty row); Sa2VA's
    RefCOCO evaluation scores the first mask of each answer (``prediction_masks[0]``), and
    so do the metrics and the inferencer's per-text outputs. Predictions without
    ``sentence_idx`` are one row per sentence.

    Raises:
        ValueError: ``sentence_idx`` skips a sentence or is not in sentence order.
    """
    masks = pred_instances['masks']
    if 'sentence_idx' not in pred_instances:
        return torch.arange(len(masks))
    idx = torch.as_tensor(pred_instances['sentence_idx']).cpu().long()
    first = torch.ones_like(idx, dtype=torch.bool)
    first[1:] = idx[1:] != idx[:-1]
    if not torch.equal(idx[first], torch.arange(int(first.sum()))):
        raise ValueError(f'{where}: pred_instances.sentence_idx {idx.tolist()} must run '
                         '0, 1, ... in order, each sentence with at least one row (the '
                         "model's predict gives an empty mask for an answer without [SEG])")
    return first.nonzero()[:, 0]


def sentence_masks(pred_instances: Mapping, where: str = '<unknown image>') -> torch.Tensor:
    """(N, H, W) bool: each sentence's first mask (:func:`sentence_rows`)."""
    masks = torch.as_tensor(pred_instances['masks']).bool()
    return masks[sentence_rows(pred_instances, where).to(masks.device)]


@METRICS.register_module()
class ReferringSegMetric(RefSegMetric):
    """mmdet's ``RefSegMetric`` plus gIoU with the LISA / Sa2VA convention.

    Per sentence with intersection I and union U:

    * ``cIoU`` = 100 * sum(I) / sum(U) over the split (cumulative IoU);
    * ``gIoU`` = 100 * mean(I / U) where an empty prediction on an empty ground truth
      scores 1 (LISA / Sa2VA);
    * ``mIoU`` = mmdet's mean IoU, which scores that case 0 (kept under its own name so
      numbers are never mixed up).

    Each sentence is scored on the first mask of its answer (:func:`sentence_masks`, as
    Sa2VA's evaluation does); a sentence whose answer had no ``[SEG]`` arrives as an
    empty predicted mask: it adds its ground-truth area to the union and 0 to gIoU; it is
    never dropped.
    A sample whose metainfo holds ``gt_ignore_masks`` (N, H, W) (ReasonSeg) has those
    pixels removed from both prediction and ground truth before I and U are counted.

    A split whose every ground truth and every prediction is empty has sum(U) = 0. Sa2VA's
    evaluation divides by ``sum(U) + 1e-10`` and so reports cIoU 0 there; that is the
    default. ``empty_split_ciou=100.0`` scores such a split as perfect instead (nothing to
    find, nothing found), consistently with gIoU's empty-empty convention.

    Args:
        metric: Any of ``'cIoU'``, ``'gIoU'``, ``'mIoU'``.
        empty_split_ciou: cIoU reported when sum(U) = 0: ``0.0`` (Sa2VA) or ``100.0``.
        **kwargs: ``BaseMetric`` arguments (``prefix``, ``collect_device``).
    """

    def __init__(self, metric: Sequence[str] = ('cIoU', 'gIoU'),
                 empty_split_ciou: float = 0.0, **kwargs) -> None:
        unknown = set(metric) - {'cIoU', 'gIoU', 'mIoU'}
        if unknown or not metric:
            raise ValueError(f'metric must be a non-empty subset of cIoU, gIoU, mIoU; got '
                             f'{list(metric)}')
        if empty_split_ciou not in (0.0, 100.0):
            raise ValueError(f'empty_split_ciou must be 0.0 (Sa2VA) or 100.0, got '
                             f'{empty_split_ciou!r}')
        super(RefSegMetric, self).__init__(**kwargs)
        self.metrics = tuple(metric)
        self.empty_split_ciou = float(empty_split_ciou)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sentence_masks(sample['pred_instances'],
                                  sample.get('img_path', '<unknown image>'))
            gt = sample['gt_masks'].to_tensor(torch.bool, pred.device)
            if pred.shape != gt.shape:
                raise ValueError(
                    f"{sample.get('img_path', '<unknown image>')}: predicted masks "
                    f'{tuple(pred.shape)} and ground truth {tuple(gt.shape)} differ')
            if 'gt_ignore_masks' in sample:
                # ReasonSeg's "ignore" pixels (255 in LISA's label map) count neither in
                # the intersection nor in the union, as LISA's evaluation does.
                valid = ~sample['gt_ignore_masks'].to_tensor(torch.bool, pred.device)
                if valid.shape != gt.shape:
                    raise ValueError(
                        f"{sample.get('img_path', '<unknown image>')}: ignore masks "
                        f'{tuple(valid.shape)} and ground truth {tuple(gt.shape)} differ')
                pred, gt = pred & valid, gt & valid
            n = len(pred)
            inter = (pred & gt).reshape(n, -1).sum(-1).double()
            union = (pred | gt).reshape(n, -1).sum(-1).double()
            giou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
            miou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))
            self.results.append(
                (float(inter.sum()), float(union.sum()), float(giou.sum()), float(miou.sum()),
                 n))

    def compute_metrics(self, results: list) -> dict:
        inter, union, giou, miou, count = (sum(col) for col in zip(*results))
        out = {}
        if 'cIoU' in self.metrics:
            out['cIoU'] = 100.0 * inter / union if union > 0 else self.empty_split_ciou
        if 'gIoU' in self.metrics:
            out['gIoU'] = 100.0 * giou / count
        if 'mIoU' in self.metrics:
            out['mIoU'] = 100.0 * miou / count
        return out
