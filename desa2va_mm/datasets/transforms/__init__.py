from .build_referring_conversation import (DEFAULT_ANSWERS, DEFAULT_QUESTIONS,
                                           IMAGE_PLACEHOLDER, IMAGE_TEST_QUESTION,
                                           REASONING_TYPE_IDS, SA2VA_ANSWERS,
                                           SA2VA_SEG_QUESTIONS, VIDEO_TEST_QUESTION,
                                           BuildReferringConversation)
from .build_gcg_conversation import (GCG_QUESTIONS, GCG_TEST_QUESTION, BuildGCGConversation,
                                     tag_caption)
from .direct_resize import DirectResize
from .internvl_tiling import InternVLTiling, dynamic_tiles
from .load_image_from_file import BadImageError, LoadImageFromFile
from .load_mvbench_frames import LoadMVBenchFrames, mvbench_frame_indices
from .load_qa_video_frames import LoadQAVideoFrames
from .load_referring_masks import LoadReferringMasks
from .load_region_prompts import LoadRegionPrompts
from .load_video_annotations import LoadVideoAnnotations
from .load_video_frames import LoadVideoFrames
from .pack_referring_inputs import PackReferringInputs
from .pack_video_referring_inputs import PackVideoReferringInputs
from .resize_video_frames import ResizeVideoFrames
from .sample_referring_targets import SampleReferringTargets
from .sample_video_expressions import SampleVideoExpressions
from .sample_video_frames import SampleVideoFrames, select_key_frames
from .tokenize_conversation import TokenizeConversation
from .video_frame_tiling import VideoFrameTiling

__all__ = [
    'BuildReferringConversation', 'InternVLTiling', 'PackReferringInputs',
    'SampleReferringTargets', 'TokenizeConversation', 'dynamic_tiles', 'IMAGE_PLACEHOLDER',
    'DEFAULT_QUESTIONS', 'DEFAULT_ANSWERS', 'SA2VA_SEG_QUESTIONS', 'SA2VA_ANSWERS',
    'IMAGE_TEST_QUESTION', 'VIDEO_TEST_QUESTION', 'REASONING_TYPE_IDS', 'LoadReferringMasks', 'LoadQAVideoFrames',
    'LoadVideoAnnotations', 'LoadVideoFrames', 'SampleVideoExpressions', 'SampleVideoFrames',
    'select_key_frames', 'PackVideoReferringInputs', 'ResizeVideoFrames', 'VideoFrameTiling',
    'LoadImageFromFile', 'BadImageError', 'DirectResize', 'BuildGCGConversation',
    'GCG_QUESTIONS', 'GCG_TEST_QUESTION', 'tag_caption', 'LoadRegionPrompts',
    'LoadMVBenchFrames', 'mvbench_frame_indices'
]
