# real_size_training.py for the InternLM2.5-based InternVL2.5-8B: its tokenizer (stand-in
# vocabulary 92553 while path=None) and chat template ('internlm2') in every pipeline.
# Text configs cannot re-parametrise a base's pipelines, so they are restated here with the
# 8B tokenizer; datasets, paths and repeats are those of datasets/sa2va_mix.py (keep the two
# in step). The tokenizer dict must equal configs/_base_/models/sa2va_8b.py's.
_base_ = ['real_size_training.py']

data_tokenizer_8b = dict(type='InternVLTokenizer', path=None, stand_in_vocab_size=92553)
tokenize_8b = dict(type='TokenizeConversation', tokenizer=data_tokenizer_8b,
                   template='internlm2', num_image_tokens_per_tile=256, max_length=8192)
sam_size_8b = (1024, 1024)
tiling_8b = dict(type='InternVLTiling', tile_size=448, min_tiles=1, max_tiles=12,
                 use_thumbnail=True)
questions_8b = ('Please segment {expression} in this video.', )

train_pipeline_8b = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='random', max_objects=5),
    dict(type='LoadReferringMasks'),
    tiling_8b,
    dict(type='Resize', scale=sam_size_8b, keep_ratio=False),
    dict(type='BuildReferringConversation', mode='train'),
    tokenize_8b,
    dict(type='PackReferringInputs'),
]
test_pipeline_8b = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    tiling_8b,
    dict(type='Resize', scale=sam_size_8b, keep_ratio=False),
    dict(type='LoadReferringMasks'),
    dict(type='BuildReferringConversation', mode='test'),
    tokenize_8b,
    dict(type='PackReferringInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                'scale_factor', 'text', 'gt_masks')),
]
qa_train_pipeline_8b = [
    dict(type='LoadImageFromFile'),
    tiling_8b,
    tokenize_8b,
    dict(type='LoadReferringMasks'),
    dict(type='Resize', scale=sam_size_8b, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
video_qa_train_pipeline_8b = [
    dict(type='LoadQAVideoFrames', num_frames=5, tile_size=448),
    tokenize_8b,
    dict(type='LoadReferringMasks'),
    dict(type='Resize', scale=sam_size_8b, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
video_train_pipeline_8b = [
    dict(type='SampleVideoExpressions', mode='random', num_expressions=5),
    dict(type='SampleVideoFrames', mode='train', num_frames=5, contiguous_prob=0.5),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='train'),
    dict(type='VideoFrameTiling', tile_size=448),
    dict(type='ResizeVideoFrames', scale=sam_size_8b),
    dict(type='BuildReferringConversation', mode='train', questions=questions_8b),
    tokenize_8b,
    dict(type='PackVideoReferringInputs'),
]

coco_8b = dict(type='RefCocoReferringDataset', data_root='data/coco/',
               data_prefix=dict(img_path='train2014/'))
refcoco_train_8b = dict(**coco_8b, ann_file='refcoco/instances.json',
                        split_file='refcoco/refs(unc).p', split='train',
                        pipeline=train_pipeline_8b)
refcoco_plus_train_8b = dict(**coco_8b, ann_file='refcoco+/instances.json',
                             split_file='refcoco+/refs(unc).p', split='train',
                             pipeline=train_pipeline_8b)
refcocog_train_8b = dict(**coco_8b, ann_file='refcocog/instances.json',
                         split_file='refcocog/refs(umd).p', split='train',
                         pipeline=train_pipeline_8b)
mix_8b = [
    dict(type='RepeatDataset', times=4, dataset=refcoco_train_8b),
    dict(type='RepeatDataset', times=4, dataset=refcoco_plus_train_8b),
    dict(type='RepeatDataset', times=4, dataset=refcocog_train_8b),
    dict(type='GRefCocoDataset', data_root='data/coco/', ann_file='grefcoco/instances.json',
         split_file='grefcoco/grefs(unc).json', data_prefix=dict(img_path='train2014/'),
         split='train', pipeline=train_pipeline_8b),
    dict(type='LLaVAQADataset', data_root='data/llava/', ann_file='llava_v1_5_mix665k.json',
         data_prefix=dict(img_path='images/'), pipeline=qa_train_pipeline_8b),
    dict(type='LLaVAQADataset', data_root='data/video_chat/', ann_file='video_chat.json',
         data_prefix=dict(video_path='videos/'), pipeline=video_qa_train_pipeline_8b),
    dict(type='RepeatDataset', times=4, dataset=dict(
        type='MeViSDataset', data_root='data/mevis/train/', pipeline=video_train_pipeline_8b)),
    dict(type='RepeatDataset', times=10, dataset=dict(
        type='ReVOSDataset', data_root='data/revos/', ann_file='meta_expressions_train_.json',
        foreground_file=None, pipeline=video_train_pipeline_8b)),
    dict(type='RepeatDataset', times=4, dataset=dict(
        type='RefYTVOSDataset', data_root='data/ref_ytvos/',
        ann_file='meta_expressions/train/meta_expressions.json',
        data_prefix=dict(img_path='train/JPEGImages/', ann_path='train/Annotations/'),
        pipeline=video_train_pipeline_8b)),
]
train_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=mix_8b))

refcoco_test_8b = dict(**coco_8b, ann_file='refcoco/instances.json',
                       split_file='refcoco/refs(unc).p', test_mode=True,
                       pipeline=test_pipeline_8b)
val_dataloader = dict(dataset=dict(_delete_=True, **refcoco_test_8b, split='val'))
test_dataloader = dict(dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
    dict(**refcoco_test_8b, split='val'),
    dict(**refcoco_test_8b, split='testA'),
    dict(**refcoco_test_8b, split='testB')]))
