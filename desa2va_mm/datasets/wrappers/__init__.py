from .skip_bad_samples import BadSampleError, SkipBadSamples, describe_sample

__all__ = ['SkipBadSamples', 'BadSampleError', 'describe_sample']
