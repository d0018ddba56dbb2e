# The video test pipeline of datasets/video_pipelines.py with InternVL2.5-8B's tokenizer
# (InternLM2.5; stand-in vocabulary 92553 while path=None) and chat template: the pipeline's
# tokenizer must equal configs/_base_/models/sa2va_8b.py's. Used by configs/desa2va_8b_<video>.py.
internlm2_video_tokenizer = dict(type='InternVLTokenizer', path=None, stand_in_vocab_size=92553)
internlm2_video_test_pipeline = [
    dict(type='SampleVideoExpressions', mode='all'),
    dict(type='SampleVideoFrames', mode='test', key_frame_strategy='first', num_key_frames=5),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='test'),
    dict(type='VideoFrameTiling', tile_size=448),
    dict(type='BuildReferringConversation', mode='test',
         questions=('Please segment {expression} in this video.', )),
    dict(type='TokenizeConversation', tokenizer=internlm2_video_tokenizer, template='internlm2',
         num_image_tokens_per_tile=256, max_length=8192),
    dict(type='PackVideoReferringInputs',
         meta_keys=('video_id', 'exp_ids', 'expressions', 'type_ids', 'frame_names',
                    'ori_shape', 'img_shape', 'frame_ids', 'key_frame_ids', 'frame_paths',
                    'gt_rles', 'num_frames', 'foreground_rles')),
]
