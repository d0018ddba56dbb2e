"""Write generated answers as JSONL for external question-answering evaluators."""
import json
import os
import os.path as osp
import tempfile
from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from desa2va_mm.registry import METRICS


def write_jsonl_atomic(records: Sequence[dict], path: str) -> None:
    """Write one JSON object per line to ``path`` through a temporary file in the same
    folder, then ``os.replace`` it: a reader never sees a half-written file, and a crash
    leaves the previous file intact."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + '\n')
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


@METRICS.register_module()
class QAAnswerWriter(BaseMetric):
    """Collect each sample's generated answer and write ``{question_id, prompt, answer}``
    per line (JSONL) for an external evaluator (LLaVA / MME / video-QA scorers).

    Reads from each prediction the meta keys ``question_id`` and ``prompt`` (set by
    :class:`~desa2va_mm.datasets.LLaVAQADataset`; pack them with
    ``PackReferringInputs(meta_keys=(..., 'question_id', 'prompt'))``) and
    ``pred_answers`` (the model's decoded answers, one per prompt; the first is written).
    Results are gathered from every rank in dataset order and written once, by the main
    process, atomically. ``compute_metrics`` returns only the count.

    Args:
        out_file: JSONL path (folders are created).
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric name prefix.
    """

    default_prefix: Optional[str] = 'qa'

    def __init__(self, out_file: str, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if not out_file:
            raise ValueError('QAAnswerWriter needs out_file')
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = out_file

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            name = sample.get('img_path', '<unknown sample>')
            for key in ('question_id', 'pred_answers'):
                if key not in sample:
                    raise KeyError(f'{name}: QAAnswerWriter needs {key!r} in the prediction '
                                   f'metainfo (pack it with PackReferringInputs meta_keys / '
                                   f'run the model in predict mode)')
            answers = sample['pred_answers']
            self.results.append(dict(
                question_id=sample['question_id'],
                prompt=sample.get('prompt', ''),
                answer=answers[0] if answers else ''))

    def compute_metrics(self, results: list) -> dict:
        write_jsonl_atomic(results, self.out_file)
        print_log(f'QAAnswerWriter: {len(results)} answers written to {self.out_file}',
                  logger='current')
        return dict(num_answers=len(results))
