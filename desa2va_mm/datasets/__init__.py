"""Datasets and transforms (importing registers them in ``desa2va_mm``'s registries)."""
from .refcoco_referring_dataset import RefCocoReferringDataset, load_refs
from .grefcoco_dataset import GRefCocoDataset
from .llava_qa_dataset import LLaVAQADataset
from .mmbench_dataset import MMBenchDataset
from .mme_dataset import MMEDataset
from .seed_bench_dataset import SEEDBenchDataset
from .video_mme_dataset import VideoMMEDataset
from .mvbench_dataset import MVBENCH_TASKS, MVBenchDataset
from .reason_seg_dataset import ReasonSegDataset
from .transforms import *  # noqa: F401,F403
from .video_io import (ArrayFrameSource, CorruptFrameError, FolderFrameSource,
                       FrameSource, VideoFileFrameSource, open_frame_source)
from .video_referring_dataset import VideoReferringDataset
from .mevis_dataset import MeViSDataset
from .revos_dataset import ReVOSDataset
from .ref_ytvos_dataset import RefYTVOSDataset
from .ref_davis_dataset import RefDAVISDataset
from .sav_dataset import SAVDataset, StridedFrameSource
from .wrappers import BadSampleError, SkipBadSamples  # noqa: E402
from .gcg_base_dataset import BaseGCGDataset, sort_and_trim_groundings
from .grandf_gcg_dataset import GranDfGCGDataset
from .openpsg_gcg_dataset import OpenPsgGCGDataset
from .flickr_gcg_dataset import FlickrGCGDataset
from .refcocog_gcg_dataset import RefCOCOgGCGDataset
from .grandf_gcg_eval_dataset import GranDfGCGEvalDataset

__all__ = ['RefCocoReferringDataset', 'load_refs', 'GRefCocoDataset', 'LLaVAQADataset',
           'MMBenchDataset', 'MMEDataset', 'SEEDBenchDataset', 'VideoMMEDataset',
           'MVBenchDataset', 'MVBENCH_TASKS',
           'ReasonSegDataset', 'VideoReferringDataset', 'MeViSDataset', 'ReVOSDataset',
           'RefYTVOSDataset', 'RefDAVISDataset', 'SAVDataset', 'StridedFrameSource', 'FrameSource', 'FolderFrameSource',
           'VideoFileFrameSource', 'ArrayFrameSource', 'open_frame_source',
           'CorruptFrameError', 'SkipBadSamples', 'BadSampleError',
           'BaseGCGDataset', 'sort_and_trim_groundings', 'GranDfGCGDataset',
           'OpenPsgGCGDataset', 'FlickrGCGDataset', 'RefCOCOgGCGDataset', 'GranDfGCGEvalDataset']
from .osprey_base_dataset import BaseOspreyDataset  # noqa: E402
from .osprey_dataset import OspreyDataset  # noqa: E402
from .osprey_description_dataset import OspreyDescriptionDataset  # noqa: E402
from .osprey_short_description_dataset import OspreyShortDescriptionDataset  # noqa: E402

__all__ += ['BaseOspreyDataset', 'OspreyDataset', 'OspreyDescriptionDataset',
            'OspreyShortDescriptionDataset']
