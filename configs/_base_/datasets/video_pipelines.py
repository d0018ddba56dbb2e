# Video pipelines shared by the real-resolution video datasets (MeViS, ReVOS,
# Ref-YouTube-VOS, Ref-DAVIS17), Sa2VA's recipe (docs/method.md §12, docs/design.md §9):
# training: up to 5 expressions of one video in one conversation, 5 sampled frames (random,
# sorted; a contiguous clip half the time), one 448 InternVL tile per frame (256 tokens),
# SAM-2 frames resized to 1024 x 1024 (PIL bicubic); losses on every frame.
# test: every expression of the video, the MLLM reads 5 key frames (Sa2VA: the first 5;
# key_frame_strategy='uniform' spreads them over the video); the video is packed as a lazy
# frame source over `frame_paths`, whose frames the data preprocessor prepares as the model
# streams them; ground truth as per-frame RLEs (`gt_rles`) for the metric.
#
# Tokenizer and chat template: the model's (see image_pipelines.py: ModelTokenizerHook).
video_sam_image_size = 1024
video_tile_size = 448
video_num_frames = 5
video_num_key_frames = 5
video_key_frame_strategy = 'first'
# Prompts (BuildReferringConversation): training draws Sa2VA's sixteen segmentation
# questions (its video datasets keep their "in this image" wording), ReVOS reasoning
# expressions (type_id 1) are used verbatim; test asks Sa2VA's video evaluation question
# (its refVOS.py SEG_PROMPT) after the frames: "<image>\nPlease segment {expression}.".
# Where the video prompt differs from Sa2VA's: the K key frames form one <img>...</img>
# block (K x 256 <IMG_CONTEXT>), where Sa2VA writes one block per frame joined by newlines
# (docs/design.md §9); the tiny video figures were trained with this layout.
video_test_question = 'Please segment {expression}.'

# PackVideoReferringInputs' default meta keys + ReVOS's foreground masks (robustness R) and
# per-object masks of multi-object expressions (A and R add overlapping objects up).
video_test_meta_keys = ('video_id', 'exp_ids', 'expressions', 'type_ids', 'frame_names',
                        'ori_shape', 'img_shape', 'frame_ids', 'key_frame_ids', 'frame_paths',
                        'gt_rles', 'num_frames', 'foreground_rles', 'gt_object_rles')

video_tokenize = dict(type='TokenizeConversation', tokenizer=None, template=None,
                      num_image_tokens_per_tile=256,
                      max_length=8192)

video_train_pipeline = [
    dict(type='SampleVideoExpressions', mode='random', num_expressions=5),
    dict(type='SampleVideoFrames', mode='train', num_frames=video_num_frames,
         contiguous_prob=0.5),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='train'),
    dict(type='VideoFrameTiling', tile_size=video_tile_size),
    # PIL bicubic, Sa2VA's resize of SAM-2 inputs (the test frames: the model's
    # data_preprocessor.frame_resize).
    dict(type='ResizeVideoFrames', scale=(video_sam_image_size, video_sam_image_size),
         backend='pillow'),
    dict(type='BuildReferringConversation', mode='train'),
    video_tokenize,
    dict(type='PackVideoReferringInputs'),
]
video_test_pipeline = [
    dict(type='SampleVideoExpressions', mode='all'),
    dict(type='SampleVideoFrames', mode='test', key_frame_strategy=video_key_frame_strategy,
         num_key_frames=video_num_key_frames),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='test'),
    dict(type='VideoFrameTiling', tile_size=video_tile_size),
    dict(type='BuildReferringConversation', mode='test', test_question=video_test_question),
    video_tokenize,
    dict(type='PackVideoReferringInputs', meta_keys=video_test_meta_keys),
]
