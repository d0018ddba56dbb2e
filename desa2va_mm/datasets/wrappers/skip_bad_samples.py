"""Training skip policy: log a sample that fails to load and train on another one."""
import copy
from typing import Optional, Union

from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log

from desa2va_mm.registry import DATASETS
from .loading_trace import LoadingTrace, describe_sample


class BadSampleError(RuntimeError):
    """A sample failed to load; the message names the dataset index and the file."""


@DATASETS.register_module()
class SkipBadSamples:
    """Wrap a training dataset so that a sample that raises is logged and replaced.

    ``dataset[i]`` runs the wrapped dataset's loading and pipeline. When that raises
    (a truncated or zero-byte image, an annotation of the wrong size, an empty or
    over-long expression...), the wrapper logs a WARNING naming the index, the file /
    video and the error, then loads the next index (``i + 1``, ``i + 2``... modulo the
    length; deterministic, so a resumed run replaces the same way). After
    ``max_bad_samples`` failures in this process it raises :class:`BadSampleError`
    naming the last sample: a data set that is mostly broken should stop training, not
    silently shrink. ``max_bad_samples=0`` is the strict mode: the first failure raises,
    still naming the sample.

    Counts are per process: each dataloader worker keeps its own (so the total can reach
    ``num_workers x max_bad_samples`` before every worker has given up).

    Evaluation datasets are refused: a skipped test sample would change the metric.

    The wrapper also records which index each data-loader worker is loading
    (:class:`LoadingTrace`), so that a worker killed mid-sample (the out-of-memory killer,
    a decoder crash) or stuck past the dataloader's ``timeout`` is reported by
    ``tools/train.py`` with the sample's file (``explain_dataloader_failure``). Inside a
    data mix (``ConcatDataset`` of ``RepeatDataset`` s) messages name the member dataset
    and its own index as well.

    Example::

        train_dataloader = dict(dataset=dict(
            type='SkipBadSamples', max_bad_samples=100,
            dataset=dict(type='RefCocoReferringDataset', ...)))

    Args:
        dataset: The dataset or its config.
        max_bad_samples: Failures tolerated in this process before raising (>= 0).
        max_consecutive: Replacement attempts for one index before raising (a run of
            broken files, or every sample broken). Defaults to 10.
    """

    def __init__(self, dataset: Union[BaseDataset, dict], max_bad_samples: int = 100,
                 max_consecutive: int = 10, lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not isinstance(max_bad_samples, int) or max_bad_samples < 0:
            raise ValueError(f'max_bad_samples must be an int >= 0, got {max_bad_samples!r}')
        if not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ValueError(f'max_consecutive must be an int >= 1, got {max_consecutive!r}')
        if getattr(dataset, 'test_mode', False):
            raise ValueError(
                f'SkipBadSamples wraps training datasets only; {type(dataset).__name__} '
                'has test_mode=True and skipping an evaluation sample would change the '
                'metric')
        self.dataset = dataset
        self.max_bad_samples = max_bad_samples
        self.max_consecutive = max_consecutive
        #: Failures seen by this process.
        self.num_bad_samples = 0
        self.loading_trace = LoadingTrace(self)
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}))

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self._fully_initialized = True

    @force_full_init
    def get_data_info(self, index: int) -> dict:
        return self.dataset.get_data_info(index)

    @force_full_init
    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if not self._fully_initialized:
            self.full_init()
        length = len(self.dataset)
        last_error: Optional[BaseException] = None
        try:
            for attempt in range(self.max_consecutive):
                current = (index + attempt) % length
                self.loading_trace.start(current)
                try:
                    return self.dataset[current]
                except Exception as error:  # noqa: BLE001 - any broken sample
                    last_error = error
                    self.num_bad_samples += 1
                    what = (f'{describe_sample(self.dataset, current)}: '
                            f'{type(error).__name__}: {error}')
                    if self.num_bad_samples > self.max_bad_samples:
                        raise BadSampleError(
                            f'{what} (bad sample {self.num_bad_samples} in this process, '
                            f'more than max_bad_samples={self.max_bad_samples})') from error
                    print_log(f'SkipBadSamples: skipped {what} ({self.num_bad_samples}/'
                              f'{self.max_bad_samples} bad samples); loading sample '
                              f'{(current + 1) % length} instead',
                              logger='current', level=30)
        finally:
            self.loading_trace.done()
        last = describe_sample(self.dataset, (index + self.max_consecutive - 1) % length)
        raise BadSampleError(
            f'{self.max_consecutive} samples in a row failed to load from index {index} '
            f'on; last: {last}: {type(last_error).__name__}: {last_error}') from last_error

    def __repr__(self) -> str:
        return (f'{type(self).__name__}({type(self.dataset).__name__}, '
                f'max_bad_samples={self.max_bad_samples})')
