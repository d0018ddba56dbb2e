from .loading_trace import (DataLoaderWorkerError, LoadingTrace, describe_sample,
                            explain_dataloader_failure)
from .skip_bad_samples import BadSampleError, SkipBadSamples

__all__ = ['SkipBadSamples', 'BadSampleError', 'describe_sample', 'LoadingTrace',
           'DataLoaderWorkerError', 'explain_dataloader_failure']
