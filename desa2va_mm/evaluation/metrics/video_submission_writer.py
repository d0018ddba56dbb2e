"""Write predictions in the layout the MeViS / Ref-YouTube-VOS online servers expect."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from desa2va_mm.evaluation.functional import get_meta, write_submission_pngs, zip_folder
from desa2va_mm.registry import METRICS


@METRICS.register_module()
class VideoSubmissionWriter(BaseMetric):
    """``<out_dir>/Annotations/<video>/<exp_id>/<frame>.png`` for online evaluation.

    Every expression of every video gets one 0 / 255 single-channel PNG per frame, named
    after the frame (``frame_names`` of the prediction; empty predictions are written as
    black frames, never skipped). Each PNG is written to a temporary name and renamed, so
    an interrupted run leaves no truncated file; each rank writes its own videos (point
    ``out_dir`` at a shared folder when testing on several machines). With ``zip=True``
    rank 0 zips ``Annotations/`` into ``<out_dir>/submission.zip`` (also atomically) once
    all ranks are done — the file to upload to the MeViS or Ref-YouTube-VOS server.

    Config::

        test_evaluator = dict(type='VideoSubmissionWriter',
                              out_dir='work_dirs/mevis_valid_submission', zip=True)

    Args:
        out_dir: Output folder.
        zip: Also write ``submission.zip``.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Metric name prefix.
    """

    default_prefix: Optional[str] = None

    def __init__(self, out_dir: str, zip: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = out_dir
        self.zip = zip

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        for sample in data_samples:
            written = write_submission_pngs(self.out_dir, sample)
            self.results.append(dict(video_id=get_meta(sample, 'video_id'),
                                     num_expressions=len(get_meta(sample, 'exp_ids')),
                                     num_files=len(written)))

    def compute_metrics(self, results: list) -> dict:
        if self.zip:
            path = zip_folder(osp.join(self.out_dir, 'Annotations'),
                              osp.join(self.out_dir, 'submission.zip'))
            print_log(f'Submission written to {path}', logger='current')
        return {'videos': len(results),
                'expressions': sum(r['num_expressions'] for r in results),
                'png_files': sum(r['num_files'] for r in results)}
