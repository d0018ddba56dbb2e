# Synthetic shapes in RefCOCO layout (tools/dataset_converters/make_synthetic_refcoco.py),
# at the tiny model's resolutions: SAM-2 at 128 px, one 112 px InternVL tile (16 tokens).
data_root = 'data/synthetic_refcoco/'
sam_image_size = 128
tokenizer = dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco')
tiling = dict(type='InternVLTiling', tile_size=112, min_tiles=1, max_tiles=1,
              use_thumbnail=False)
tokenize = dict(type='TokenizeConversation', tokenizer=tokenizer, template='qwen2',
                num_image_tokens_per_tile=16, max_length=256)
# One training question instead of Sa2VA's sixteen: the word vocabulary lacks words of the
# others ("could", "provide", "identify", "where", "picture", "highlight", ...), and adding
# them would renumber the sorted vocabulary and change every published tiny figure. The
# test prompt is Sa2VA's own (IMAGE_TEST_QUESTION); the word tokenizer drops its leading
# space, so the tokens are those of this question.
tiny_questions = ('Please segment {expression} in this image.', )

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='random', max_objects=3),
    dict(type='LoadAnnotations', with_bbox=False, with_label=False, with_mask=True),
    tiling,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='BuildReferringConversation', mode='train', questions=tiny_questions),
    tokenize,
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    tiling,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    # After Resize: ground truth stays at the original resolution for the metric.
    dict(type='LoadAnnotations', with_bbox=False, with_label=False, with_mask=True),
    dict(type='BuildReferringConversation', mode='test'),
    tokenize,
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                    'gt_masks')),
]

dataset_type = 'RefCocoReferringDataset'
common = dict(
    type=dataset_type,
    data_root=data_root,
    ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p',
    data_prefix=dict(img_path='train2014/'))

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**common, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**common, split='val', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU', 'mIoU'])
test_evaluator = val_evaluator
