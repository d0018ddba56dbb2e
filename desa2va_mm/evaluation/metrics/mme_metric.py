"""MME's score: accuracy and accuracy+ per subtask, perception and cognition sums."""
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from desa2va_mm.datasets.mme_dataset import MME_COGNITION as COGNITION
from desa2va_mm.datasets.mme_dataset import MME_PERCEPTION as PERCEPTION
from desa2va_mm.registry import METRICS


def parse_yes_no(answer: str) -> str:
    """An answer read as MME's evaluation tool reads it: lower-cased; ``'yes'`` / ``'no'``
    as they are; otherwise ``'yes'`` if its first four characters contain "yes", else
    ``'no'`` if they contain "no", else ``'other'`` (always wrong)."""
    answer = answer.strip().lower()
    if answer in ('yes', 'no'):
        return answer
    head = answer[:4]
    if 'yes' in head:
        return 'yes'
    if 'no' in head:
        return 'no'
    return 'other'


@METRICS.register_module()
class MMEMetric(BaseMetric):
    """MME: per subtask, accuracy (questions answered right) and accuracy+ (images whose
    questions, two per image, are all answered right), both in percent; the subtask's score
    is their sum (at most 200). ``perception`` sums the scores of the perception subtasks
    (at most 2000), ``cognition`` those of the cognition subtasks (at most 800), as MME's
    ``eval_tool/calculation.py`` does.

    Each prediction's metainfo gives ``question_id``, ``gt_answer`` (``'yes'`` /
    ``'no'``), ``category`` (the subtask), ``image_key`` (the image, pairing its
    questions) and ``pred_answers`` (the first is read with :func:`parse_yes_no`).

    Metrics: ``<subtask>/acc``, ``<subtask>/acc_plus``, ``<subtask>/score``,
    ``perception`` and ``cognition`` (over the subtasks present; a group with none is left
    out).

    Args:
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric name prefix.
    """

    default_prefix: Optional[str] = 'mme'

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            name = sample.get('question_id', sample.get('img_path', '<unknown sample>'))
            for key in ('gt_answer', 'category', 'image_key', 'pred_answers'):
                if key not in sample:
                    raise KeyError(f'{name}: MMEMetric needs {key!r} in the prediction '
                                   f'metainfo (pack it with PackReferringInputs meta_keys / '
                                   f'run the model in predict mode)')
            answers = sample['pred_answers']
            pred = parse_yes_no(answers[0] if answers else '')
            self.results.append(dict(category=sample['category'], image=sample['image_key'],
                                     correct=pred == str(sample['gt_answer']).lower()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            raise ValueError('MMEMetric: no prediction to score')
        per_task: Dict[str, Dict[str, List[bool]]] = defaultdict(lambda: defaultdict(list))
        for row in results:
            per_task[row['category']][row['image']].append(row['correct'])
        unknown = set(per_task) - set(PERCEPTION + COGNITION)
        if unknown:
            raise ValueError(f'MMEMetric: unknown subtasks {sorted(unknown)}; MME has '
                             f'{list(PERCEPTION + COGNITION)}')
        metrics, scores = OrderedDict(), {}
        for task in PERCEPTION + COGNITION:
            if task not in per_task:
                continue
            images = per_task[task]
            answers = [c for per_image in images.values() for c in per_image]
            acc = 100.0 * sum(answers) / len(answers)
            acc_plus = 100.0 * sum(all(c) for c in images.values()) / len(images)
            metrics[f'{task}/acc'] = acc
            metrics[f'{task}/acc_plus'] = acc_plus
            metrics[f'{task}/score'] = scores[task] = acc + acc_plus
        for group, tasks in (('perception', PERCEPTION), ('cognition', COGNITION)):
            present = [t for t in tasks if t in scores]
            if present:
                metrics[group] = sum(scores[t] for t in present)
                if len(present) < len(tasks):
                    print_log(f'MMEMetric: {group} sums {len(present)} of {len(tasks)} '
                              f'subtasks (missing: {sorted(set(tasks) - set(present))})',
                              logger='current')
        return dict(metrics)
