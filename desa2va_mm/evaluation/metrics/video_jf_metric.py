"""J, F and J&F for referring video object segmentation (MeViS, Ref-DAVIS, Ref-YouTube-VOS)."""
import os.path as osp
from typing import Iterator, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from desa2va_mm.evaluation.functional import (clip_scores, get_meta, iter_expressions,
                                              iter_frame_pairs, write_submission_pngs,
                                              zip_folder)
from desa2va_mm.registry import METRICS


@METRICS.register_module()
class VideoJFMetric(BaseMetric):
    """Region J, boundary F and J&F with the DAVIS definitions (docs/design.md §11).

    Per frame, J = |P & G| / |P | G| (1 when both are empty) and F is the DAVIS boundary
    F-measure (disk radius ``ceil(bound_th * diagonal)``), computed by the fast, exact
    :func:`desa2va_mm.evaluation.functional.frame_scores`. As in the MeViS evaluator and
    Sa2VA's Ref-DAVIS / Ref-YouTube-VOS protocol, each expression's J and F are the means
    over all its frames, and the split's J and F the means over expressions;
    J&F = (J + F) / 2. Reported in percent.

    Consumes the video prediction contract: one sample per video with ``video_id``,
    ``exp_ids``, ``frame_names``, ``ori_shape``, ``pred_rles`` and ``gt_rles`` (E lists of
    T COCO RLEs; ``None`` = empty). Masks are decoded one frame at a time and at most
    ``chunk_frames`` decoded frames are held at once, so memory stays bounded. Videos without
    ``gt_rles`` (online splits) are only written to ``out_dir`` when it is set.

    Args:
        bound_th: Boundary tolerance, a fraction of the diagonal (< 1) or pixels.
        out_dir: If set, also write ``<out_dir>/Annotations/<video>/<exp_id>/<frame>.png``
            (see :class:`VideoSubmissionWriter`).
        zip_submission: Zip ``Annotations`` into ``<out_dir>/submission.zip`` at the end.
        chunk_frames: Decoded frames held at once (scored one by one).
        report_first_frame_copy: Also score, from the same predictions, each expression's
            *first-frame prediction copied to every frame* (``first_frame_copy/J``, ``/F``,
            ``/J&F``): the no-tracking baseline of the same model, so one test run shows
            what tracking adds.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric name prefix.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 bound_th: float = 0.008,
                 out_dir: Optional[str] = None,
                 zip_submission: bool = False,
                 chunk_frames: int = 8,
                 report_first_frame_copy: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if zip_submission and out_dir is None:
            raise ValueError('zip_submission=True needs out_dir')
        self.bound_th = bound_th
        self.out_dir = out_dir
        self.zip_submission = zip_submission
        if chunk_frames < 1:
            raise ValueError(f'chunk_frames must be >= 1, got {chunk_frames}')
        self.chunk_frames = chunk_frames
        self.report_first_frame_copy = report_first_frame_copy

    # ------------------------------------------------------------------ scoring
    def scored_chunks(self, exp: dict, first_frame_copy: bool = False) -> Iterator[tuple]:
        """(frame indices, J, F, |P & G|, |P | G|) per chunk of an expression's frames.

        With ``first_frame_copy`` each chunk also carries ``(J, F)`` of the first frame's
        prediction against these frames (decoded once, scored against the same decoded
        ground truth).
        """
        frames, preds, gts = [], [], []
        first = None
        for t, pred, gt in iter_frame_pairs(exp):
            if first is None:
                first = pred
            frames.append(t)
            preds.append(pred)
            gts.append(gt)
            if len(frames) == self.chunk_frames or t == len(exp['frame_names']) - 1:
                gt_stack = np.stack(gts)
                scores = clip_scores(np.stack(preds), gt_stack, self.bound_th)
                if first_frame_copy:
                    copy_j, copy_f, _, _ = clip_scores(
                        np.broadcast_to(first, gt_stack.shape), gt_stack, self.bound_th)
                    scores = (*scores, copy_j, copy_f)
                yield (np.array(frames), *scores)
                frames, preds, gts = [], [], []

    def score_expression(self, exp: dict) -> dict:
        """Frame-averaged J and F of one expression (see ``iter_expressions``), and
        ``copy_J`` / ``copy_F`` of its first-frame prediction copied forward when
        ``report_first_frame_copy``."""
        copy = self.report_first_frame_copy
        sums = []
        for chunk in self.scored_chunks(exp, first_frame_copy=copy):
            sums.append([chunk[1], chunk[2]] + ([chunk[5], chunk[6]] if copy else []))
        names = ['J', 'F'] + (['copy_J', 'copy_F'] if copy else [])
        if not sums:
            return {name: 0.0 for name in names}
        return {name: float(np.concatenate([c[i] for c in sums]).mean())
                for i, name in enumerate(names)}

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        for sample in data_samples:
            if self.out_dir is not None:
                write_submission_pngs(self.out_dir, sample)
            records: List[dict] = []
            if get_meta(sample, 'gt_rles', None) is not None:
                for exp in iter_expressions(sample):
                    record = dict(video_id=exp['video_id'], exp_id=exp['exp_id'],
                                  type_id=exp['type_id'])
                    record.update(self.score_expression(exp))
                    records.append(record)
            # Exactly one entry per video: mmengine truncates the gathered results to the
            # dataset length, so per-expression entries would be cut off.
            self.results.append(records)

    def _finish_submission(self) -> None:
        if self.zip_submission:
            path = zip_folder(osp.join(self.out_dir, 'Annotations'),
                              osp.join(self.out_dir, 'submission.zip'))
            print_log(f'Submission written to {path}', logger='current')

    def compute_metrics(self, results: list) -> dict:
        records = [r for per_video in results for r in per_video]
        if self.out_dir is not None:
            self._finish_submission()
        if not records:
            print_log(f'{type(self).__name__}: no ground truth (online split); nothing scored',
                      logger='current')
            return {}
        j = float(np.mean([r['J'] for r in records]))
        f = float(np.mean([r['F'] for r in records]))
        metrics = {'J': 100 * j, 'F': 100 * f, 'J&F': 100 * (j + f) / 2}
        if self.report_first_frame_copy:
            cj = float(np.mean([r['copy_J'] for r in records]))
            cf = float(np.mean([r['copy_F'] for r in records]))
            metrics.update({'first_frame_copy/J': 100 * cj, 'first_frame_copy/F': 100 * cf,
                            'first_frame_copy/J&F': 100 * (cj + cf) / 2})
        return metrics
