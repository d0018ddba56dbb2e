# Synthetic moving shapes in the MeViS layout (tools/dataset_converters/make_synthetic_mevis.py),
# at the tiny model's resolutions (as synthetic_refcoco_tiny.py): SAM-2 at 128 px, one 112 px
# InternVL tile per frame (16 tokens). Training: 3 expressions x 5 sampled frames per video;
# test: every expression of a valid_u video, the first 5 frames as key frames.
#   python tools/dataset_converters/make_synthetic_mevis.py --out data/synthetic_mevis \
#       --num-videos 200 --num-frames 12 --seed 0
data_root = 'data/synthetic_mevis/'
sam_image_size = 128
tile_size = 112
tokenizer = dict(type='TinyWordTokenizer', vocabulary='synthetic_mevis')
tokenize = dict(type='TokenizeConversation', tokenizer=tokenizer, template='qwen2',
                num_image_tokens_per_tile=16, max_length=256)
# One question for training and test instead of Sa2VA's (sixteen "... in this image"
# training templates, "Please segment {expression}." at test): the word vocabulary lacks
# words of the training templates, adding them would renumber the sorted vocabulary, and
# either change would alter the published tiny video figures.
tiny_video_question = 'Please segment {expression} in this video.'
questions = (tiny_video_question, )
num_key_frames = 5
key_frame_strategy = 'first'

train_pipeline = [
    dict(type='SampleVideoExpressions', mode='random', num_expressions=3),
    dict(type='SampleVideoFrames', mode='train', num_frames=5, contiguous_prob=0.5),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='train'),
    dict(type='VideoFrameTiling', tile_size=tile_size),
    dict(type='ResizeVideoFrames', scale=(sam_image_size, sam_image_size)),
    dict(type='BuildReferringConversation', mode='train', questions=questions),
    tokenize,
    dict(type='PackVideoReferringInputs'),
]
test_pipeline = [
    dict(type='SampleVideoExpressions', mode='all'),
    dict(type='SampleVideoFrames', mode='test', key_frame_strategy=key_frame_strategy,
         num_key_frames=num_key_frames),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='test'),
    dict(type='VideoFrameTiling', tile_size=tile_size),
    dict(type='BuildReferringConversation', mode='test', test_question=tiny_video_question),
    tokenize,
    dict(type='PackVideoReferringInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='MeViSDataset', data_root=data_root + 'train/', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MeViSDataset', data_root=data_root + 'valid_u/', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# Also the model's own first-frame prediction copied forward (the no-tracking baseline).
val_evaluator = dict(type='VideoJFMetric', report_first_frame_copy=True)
test_evaluator = val_evaluator
