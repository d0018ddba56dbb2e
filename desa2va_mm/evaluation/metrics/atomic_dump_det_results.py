"""``--out`` of tools/test.py: dump predictions without ever leaving a partial file."""
from mmdet.evaluation import DumpDetResults
from mmengine.logging import print_log

from desa2va_mm.registry import METRICS
from desa2va_mm.utils.atomic_io import atomic_dump


@METRICS.register_module()
class AtomicDumpDetResults(DumpDetResults):
    """mmdet's ``DumpDetResults`` (masks as COCO RLE, one dict per image) written through
    a temporary file and ``os.replace``.

    An interrupted test run leaves either no ``--out`` file or the previous complete one,
    never a truncated pickle a later run or an offline metric would read as complete.
    Only rank 0 writes (as ``DumpDetResults``), after every rank's results are collected.

    Args:
        out_file_path: The ``.pkl`` / ``.pickle`` file.
        collect_device: ``'cpu'`` or ``'gpu'``.
    """

    def compute_metrics(self, results: list) -> dict:
        atomic_dump(results, self.out_file_path, file_format='pkl')
        print_log(f'Results have been saved to {self.out_file_path}.', logger='current')
        return {}
