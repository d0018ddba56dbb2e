from .referring_seg_metric import ReferringSegMetric

__all__ = ['ReferringSegMetric']
