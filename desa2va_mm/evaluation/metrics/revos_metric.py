"""ReVOS: J, F, J&F, accuracy A and robustness R for referring, reasoning and overall."""

import numpy as np

from desa2va_mm.evaluation.functional import get_meta, rle_area
from desa2va_mm.registry import METRICS
from .video_jf_metric import VideoJFMetric

#: ReVOS ``type_id`` -> group name (VISA's evaluator: 0 referring, 1 reasoning).
REVOS_GROUPS = {0: 'referring', 1: 'reasoning'}


@METRICS.register_module()
class ReVOSMetric(VideoJFMetric):
    """The ReVOS evaluator of VISA (``revos_evaluation.py``), frame by frame from RLEs.

    Per frame with prediction P, ground truth G (union of the expression's objects) and
    the frame's foreground F (all annotated objects, ``mask_dict_foreground.json``):

    * J, F: DAVIS definitions (:class:`VideoJFMetric`);
    * A = mean(G == P) (pixel accuracy);
    * R = max(1 - sum((1 - G) * P) / (sum(F) + 1e-6), 0): false-positive area relative to
      all annotated foreground (``sum fg`` is the foreground of the whole frame, summed
      over its objects as VISA's ``decode(...).sum(axis=2)`` does, not G).

    Each is averaged over an expression's frames; VISA then rounds every expression's
    percentage to 2 decimals (``round(100 * x, 2)``, reproduced when
    ``round_per_expression``), averages per group (``type_id`` 0 referring, 1 reasoning),
    J&F = (J + F) / 2 per group, and ``overall`` = mean of the two groups' numbers.

    The foreground RLEs come from the metainfo key ``foreground_rles`` (T entries: an RLE,
    a list of RLEs or ``None``), which ``ReVOSDataset`` provides when its
    ``foreground_file`` is set. Binary masks are assumed: VISA adds overlapping object
    masks as uint8, which only differs where two objects of one expression overlap.

    Args:
        robustness: Compute R (needs ``foreground_rles``; a missing key is an error).
        round_per_expression: Round per-expression percentages to 2 decimals like VISA.
        **kwargs: :class:`VideoJFMetric` arguments (``bound_th``, ``out_dir``...).
    """

    def __init__(self, robustness: bool = True, round_per_expression: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.robustness = robustness
        self.round_per_expression = round_per_expression

    def process(self, data_batch: dict, data_samples) -> None:
        self._foreground = None
        for sample in data_samples:
            if self.robustness and get_meta(sample, 'gt_rles', None) is not None:
                self._foreground = get_meta(sample, 'foreground_rles')
                num_frames = len(get_meta(sample, 'frame_names'))
                if len(self._foreground) != num_frames:
                    raise ValueError(
                        f"video {get_meta(sample, 'video_id')!r}: foreground_rles has "
                        f'{len(self._foreground)} frames but frame_names has {num_frames}')
            super().process(data_batch, [sample])
        self._foreground = None

    def score_expression(self, exp: dict) -> dict:
        if exp['type_id'] not in REVOS_GROUPS:
            raise ValueError(f"video {exp['video_id']!r}, expression {exp['exp_id']!r}: "
                             f"type_id must be 0 (referring) or 1 (reasoning), got "
                             f"{exp['type_id']!r}")
        height, width = exp['shape']
        js, fs, accs, robs = [], [], [], []
        for frames, j, f, inter, union in self.scored_chunks(exp):
            js.extend(j)
            fs.extend(f)
            for t, i, u in zip(frames, inter, union):
                accs.append(1.0 - (u - i) / float(height * width))  # 1 - |P xor G| / HW
                if self.robustness:
                    where = (f"video {exp['video_id']!r}, frame {exp['frame_names'][t]!r} "
                             '(foreground_rles)')
                    fg_area = rle_area(self._foreground[t], exp['shape'], where)
                    false_pos = u - rle_area(exp['gt_rles'][t], exp['shape'])  # sum((1-G)P)
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
