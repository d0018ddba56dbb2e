from .atomic_dump_det_results import AtomicDumpDetResults
from .gcg_metric import GCG_METRICS, GCGMetric
from .grefseg_metric import GRefSegMetric
from .mme_metric import MMEMetric
from .multiple_choice_metric import MultipleChoiceMetric
from .qa_answer_writer import QAAnswerWriter
from .referring_seg_metric import ReferringSegMetric
from .revos_metric import ReVOSMetric
from .video_jf_metric import VideoJFMetric
from .video_submission_writer import VideoSubmissionWriter

__all__ = ['AtomicDumpDetResults', 'ReferringSegMetric', 'QAAnswerWriter', 'GRefSegMetric',
           'VideoJFMetric', 'ReVOSMetric', 'VideoSubmissionWriter', 'MultipleChoiceMetric',
           'MMEMetric', 'GCGMetric', 'GCG_METRICS']
