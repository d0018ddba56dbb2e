from .frame_stream import FrameStream, PreparedFrame
from .referring_data_preprocessor import ReferringDataPreprocessor, pad_sequences
from .video_referring_data_preprocessor import VideoReferringDataPreprocessor

__all__ = ['ReferringDataPreprocessor', 'VideoReferringDataPreprocessor', 'pad_sequences',
           'FrameStream', 'PreparedFrame']
