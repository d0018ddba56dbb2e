# Synthetic grounded captions in GranD-f's layout (tools/dataset_converters/make_synthetic_gcg.py),
# at the tiny model's resolutions: SAM-2 at 128 px, one 112 px InternVL tile (16 tokens).
# Training: GranDfGCGDataset on annotations/GranDf_HA_GCG_train.json; test: the val split in
# GLaMM's evaluation layout, scored by GCGMetric.
data_root = 'data/synthetic_gcg/'
sam_image_size = 128
tokenizer = dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco')
tiling = dict(type='InternVLTiling', tile_size=112, min_tiles=1, max_tiles=1,
              use_thumbnail=False)
tokenize = dict(type='TokenizeConversation', tokenizer=tokenizer, template='qwen2',
                num_image_tokens_per_tile=16, max_length=256)
# One question in the tiny word vocabulary instead of Sa2VA's six GCG questions (their
# words, "describe", "brief", "interleaved", ..., are not in it); same question at test.
tiny_gcg_question = 'What is in this image? Please respond with segmentation mask.'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringMasks'),
    tiling,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='BuildGCGConversation', mode='train', questions=[tiny_gcg_question]),
    tokenize,
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    tiling,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    # After Resize: ground truth stays at the original resolution for the metric.
    dict(type='LoadReferringMasks'),
    dict(type='BuildGCGConversation', mode='test', test_question=tiny_gcg_question),
    tokenize,
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                    'gt_masks', 'gt_caption', 'gt_phrases')),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='GranDfGCGDataset', data_root=data_root,
                 ann_file='annotations/GranDf_HA_GCG_train.json',
                 data_prefix=dict(img_path='images/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='GranDfGCGEvalDataset', data_root=data_root,
                 ann_file='annotations/gcg_val_test/val_gcg_coco_caption_gt.json',
                 mask_file='annotations/gcg_val_test/val_gcg_coco_mask_gt.json',
                 data_prefix=dict(img_path='images/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='GCGMetric', prefix='synthetic_gcg')
test_evaluator = val_evaluator
