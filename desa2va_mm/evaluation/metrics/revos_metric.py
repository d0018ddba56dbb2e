"""ReVOS: J, F, J&F, accuracy A and robustness R for referring, reasoning and overall."""
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from desa2va_mm.evaluation.functional import decode_frame, get_meta, rle_area
from desa2va_mm.registry import METRICS
from .video_jf_metric import VideoJFMetric

#: ReVOS ``type_id`` -> group name (VISA's evaluator: 0 referring, 1 reasoning). Type 2
#: expressions are scored but, as in VISA's evaluator, enter no average.
REVOS_GROUPS = {0: 'referring', 1: 'reasoning'}
#: Every ``type_id`` a ReVOS meta file holds.
REVOS_TYPE_IDS = (0, 1, 2)
#: How the objects of one expression form the ground truth of A and R.
OVERLAP_MODES = ('sum', 'union')


@METRICS.register_module()
class ReVOSMetric(VideoJFMetric):
    """The ReVOS evaluator of VISA (``eval_revos.py``), frame by frame from RLEs.

    Per frame with prediction P (0 / 1), the expression's objects G_1..G_k, their union G
    and the frame's foreground F (all annotated objects, ``mask_dict_foreground.json``):

    * J, F: DAVIS definitions on the union G (:class:`VideoJFMetric`; the official code
      binarises the ground truth for both);
    * A = mean(C == P) (pixel accuracy) and
    * R = max(1 - sum((1 - C) * P) / (sum(F) + 1e-6), 0) (false positives relative to all
      annotated foreground),

    where C is the ground truth VISA builds: the objects' masks *added* as uint8
    (``overlap='sum'``, the default), so a pixel covered by two objects holds 2. There A
    counts it as wrong whatever P is, and a predicted overlap pixel adds
    ``(1 - 2) mod 256 = 255`` to R's false-positive sum. ``overlap='union'`` uses C = G
    instead (overlaps counted once), which is what the formulas mean for binary masks;
    the two differ only where objects of one expression overlap.

    Each is averaged over an expression's frames; VISA then rounds every expression's
    percentage to 2 decimals (``round(100 * x, 2)``, reproduced when
    ``round_per_expression``), averages per group (``type_id`` 0 referring, 1 reasoning),
    J&F = (J + F) / 2 per group, and ``overall`` = mean of the two groups' numbers.
    Expressions with ``type_id`` 2 are scored (their records stay in ``results``) and, as
    in VISA's evaluator, enter none of these averages.

    Metainfo read besides the video prediction contract: ``foreground_rles`` (T entries:
    an RLE, a list of RLEs or ``None``) when ``robustness``, and ``gt_object_rles``
    (``{exp_id: [T RLEs or None] per object}`` for the expressions with two or more
    objects) when ``overlap='sum'``; :class:`ReVOSDataset` provides both and the ReVOS
    test pipeline's ``PackVideoReferringInputs`` ``meta_keys`` must list them.

    Args:
        robustness: Compute R (needs ``foreground_rles``; a missing key is an error).
        round_per_expression: Round per-expression percentages to 2 decimals like VISA.
        overlap: ``'sum'`` (VISA) or ``'union'``: how an expression's objects form the
            ground truth of A and R.
        **kwargs: :class:`VideoJFMetric` arguments (``bound_th``, ``out_dir``...).
    """

    def __init__(self, robustness: bool = True, round_per_expression: bool = True,
                 overlap: str = 'sum', **kwargs) -> None:
        super().__init__(**kwargs)
        if overlap not in OVERLAP_MODES:
            raise ValueError(f'overlap must be one of {OVERLAP_MODES}, got {overlap!r}')
        self.robustness = robustness
        self.round_per_expression = round_per_expression
        self.overlap = overlap

    def process(self, data_batch: dict, data_samples) -> None:
        self._foreground = None
        self._object_rles = None
        for sample in data_samples:
            if get_meta(sample, 'gt_rles', None) is not None:
                if self.robustness:
                    self._foreground = get_meta(sample, 'foreground_rles')
                    num_frames = len(get_meta(sample, 'frame_names'))
                    if len(self._foreground) != num_frames:
                        raise ValueError(
                            f"video {get_meta(sample, 'video_id')!r}: foreground_rles has "
                            f'{len(self._foreground)} frames but frame_names has '
                            f'{num_frames}')
                if self.overlap == 'sum':
                    self._object_rles = self._check_object_rles(sample)
            super().process(data_batch, [sample])
        self._foreground = None
        self._object_rles = None

    @staticmethod
    def _check_object_rles(sample) -> dict:
        video_id = get_meta(sample, 'video_id')
        object_rles = get_meta(sample, 'gt_object_rles', None)
        if object_rles is None:
            raise KeyError(
                f"video {video_id!r}: the prediction has no 'gt_object_rles' (each "
                "expression's object masks, which overlap='sum' adds up as VISA does); list "
                'it in PackVideoReferringInputs meta_keys of the test pipeline (ReVOSDataset '
                "provides it) or build ReVOSMetric with overlap='union'")
        num_frames = len(get_meta(sample, 'frame_names'))
        for exp_id, objects in object_rles.items():
            for per_frame in objects:
                if len(per_frame) != num_frames:
                    raise ValueError(
                        f'video {video_id!r}, expression {exp_id!r}: gt_object_rles has an '
                        f'object with {len(per_frame)} frames but frame_names has '
                        f'{num_frames}')
        return object_rles

    def _summed_ground_truth(self, exp: dict, t: int) -> Optional[np.ndarray]:
        """VISA's uint8 sum of the expression's object masks on frame ``t`` (W, H), or
        None when no two of them overlap there (the sum is then the union)."""
        objects = (self._object_rles or {}).get(str(exp['exp_id']))
        if self.overlap != 'sum' or not objects:
            return None
        rles = [per_frame[t] for per_frame in objects if per_frame[t] is not None]
        if len(rles) < 2:
            return None
        where = (f"video {exp['video_id']!r}, expression {exp['exp_id']!r}, frame "
                 f"{exp['frame_names'][t]!r} (gt_object_rles)")
        summed = decode_frame(rles[0], exp['shape'], where).copy()
        for rle in rles[1:]:
            summed += decode_frame(rle, exp['shape'], where)  # uint8, wraps like VISA's
        # Objects that do not overlap add up to their union: the union's counts are exact.
        return summed if (summed > 1).any() else None

    def score_expression(self, exp: dict) -> dict:
        if exp['type_id'] not in REVOS_TYPE_IDS:
            raise ValueError(f"video {exp['video_id']!r}, expression {exp['exp_id']!r}: "
                             f'type_id must be one of {REVOS_TYPE_IDS} (0 referring, 1 '
                             f"reasoning, 2 scored but not averaged), got {exp['type_id']!r}")
        height, width = exp['shape']
        js, fs, accs, robs = [], [], [], []
        for frames, j, f, inter, union in self.scored_chunks(exp):
            js.extend(j)
            fs.extend(f)
            for t, i, u in zip(frames, inter, union):
                summed = self._summed_ground_truth(exp, t)
                if summed is None:
                    accs.append(1.0 - (u - i) / float(height * width))  # 1 - |P xor G| / HW
                    false_pos = u - rle_area(exp['gt_rles'][t], exp['shape'])  # sum((1-G)P)
                else:
                    where = (f"video {exp['video_id']!r}, expression {exp['exp_id']!r}, "
                             f"frame {exp['frame_names'][t]!r} (prediction)")
                    pred = decode_frame(exp['pred_rles'][t], exp['shape'], where)
                    accs.append(float(np.mean(summed == pred)))
                    # uint8 as in VISA: an overlap pixel (C = 2) predicted adds 255.
                    false_pos = int(((1 - summed) * pred).sum())
                if self.robustness:
                    where = (f"video {exp['video_id']!r}, frame {exp['frame_names'][t]!r} "
                             '(foreground_rles)')
                    fg_area = rle_area(self._foreground[t], exp['shape'], where)
                    robs.append(max(1.0 - false_pos / (fg_area + 1e-6), 0.0))
        out = dict(J=float(np.mean(js)), F=float(np.mean(fs)), A=float(np.mean(accs)))
        if self.robustness:
            out['R'] = float(np.mean(robs))
        return out

    def compute_metrics(self, results: list) -> dict:
        records = [r for per_video in results for r in per_video]
        if self.out_dir is not None:
            self._finish_submission()
        if not records:
            return {}
        names = ['J', 'F', 'A'] + (['R'] if self.robustness else [])

        def pct(x: float) -> float:
            return round(100 * x, 2) if self.round_per_expression else 100 * x

        unaveraged = sum(r['type_id'] not in REVOS_GROUPS for r in records)
        if unaveraged:
            print_log(f'ReVOSMetric: {unaveraged} expression(s) with type_id 2 scored and left '
                      "out of the referring / reasoning / overall averages (VISA's "
                      'evaluator does the same)', logger='current')
        out = {}
        groups = {}
        for type_id, group in REVOS_GROUPS.items():
            rows = [r for r in records if r['type_id'] == type_id]
            if not rows:
                continue
            groups[group] = {n: float(np.mean([pct(r[n]) for r in rows])) for n in names}
            groups[group]['J&F'] = (groups[group]['J'] + groups[group]['F']) / 2
        for group, vals in groups.items():
            out.update({f'{group}/{n}': v for n, v in vals.items()})
        if len(groups) == 2:
            for n in names + ['J&F']:
                out[f'overall/{n}'] = (groups['referring'][n] + groups['reasoning'][n]) / 2
        elif groups:
            # VISA's mean of an empty group is NaN; with one group present, overall is it.
            only = next(iter(groups.values()))
            out.update({f'overall/{n}': v for n, v in only.items()})
        return out
