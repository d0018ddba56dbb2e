# Synthetic region prompts in Osprey-724K's layout (tools/dataset_converters/
# make_synthetic_osprey.py) mixed with the synthetic RefCOCO set, at the tiny model's
# resolutions: SAM-2 at 128 px, one 112 px InternVL tile (a 4 x 4 patch grid: a region
# takes one <IMG_CONTEXT> per grid cell it covers, docs/visual_prompts.md).
_base_ = ['synthetic_refcoco_tiny.py']

osprey_root = 'data/synthetic_osprey/'
# The region list line ("There are 2 part regions in the picture: region1 ...") and the
# region questions add words to the tiny vocabulary (desa2va_mm.synthetic.OSPREY_WORDS);
# the model's tokenizer must be the same (configs/sa2va/sa2va_tiny_vp.py).
vp_tokenizer = dict(
    type='TinyWordTokenizer', vocabulary='synthetic_refcoco',
    words=('part', 'regions', 'picture', 'like', 'colour', 'answer', 'question', 'using',
           'single', 'word', 'or', 'phrase', '1', '2', '3', '4', '5', '6', 'region1',
           'region2', 'region3', 'region4', 'region5', 'region6'))
vp_tokenize = dict(type='TokenizeConversation', tokenizer=vp_tokenizer, template='qwen2',
                   num_image_tokens_per_tile=16, max_length=256)
tiling = dict(type='InternVLTiling', tile_size=112, min_tiles=1, max_tiles=1,
              use_thumbnail=False)
sam_resize = dict(type='Resize', scale=(128, 128), keep_ratio=False)
osprey_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadRegionPrompts'),
    tiling,
    vp_tokenize,
    dict(type='LoadReferringMasks'),
    sam_resize,
    dict(type='PackReferringInputs'),
]
# The synthetic RefCOCO training pipeline with the region-aware tokenizer.
refcoco_vp_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='random', max_objects=3),
    dict(type='LoadAnnotations', with_bbox=False, with_label=False, with_mask=True),
    tiling,
    sam_resize,
    dict(type='BuildReferringConversation', mode='train',
         questions=('Please segment {expression} in this image.', )),
    vp_tokenize,
    dict(type='PackReferringInputs'),
]
osprey_common = dict(data_root=osprey_root, data_prefix=dict(img_path='images/'),
                     pipeline=osprey_train_pipeline)
# Epoch repeats of each member: Sa2VA's Osprey files once each, the RefCOCO set once.
vp_mix_repeats = dict(refcoco=1, conversation=1, short_form=1, description=1,
                      segment_like=1)
vp_members = dict(
    refcoco=dict(type='RefCocoReferringDataset', data_root='data/synthetic_refcoco/',
                 ann_file='refcoco/instances.json', split_file='refcoco/refs(unc).p',
                 data_prefix=dict(img_path='train2014/'), split='train',
                 pipeline=refcoco_vp_train_pipeline),
    conversation=dict(type='OspreyDataset', ann_file='Osprey-724K/osprey_conversation.json',
                      **osprey_common),
    short_form=dict(type='OspreyShortDescriptionDataset',
                    ann_file='Osprey-724K/osprey_short_form.json', **osprey_common),
    description=dict(type='OspreyDescriptionDataset',
                     ann_file='Osprey-724K/osprey_detail_description.json', **osprey_common),
    segment_like=dict(type='OspreyDataset', ann_file='Osprey-724K/osprey_segment_like.json',
                      **osprey_common))
train_dataloader = dict(
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
        vp_members[name] if times == 1 else dict(type='RepeatDataset', times=times,
                                                 dataset=vp_members[name])
        for name, times in vp_mix_repeats.items() if times > 0]))
# Test: the synthetic RefCOCO val split, read with the region-aware tokenizer (what
# tools/test.py and the inferencer use; region questions are scored by
# tools/analysis_tools/region_qa_accuracy.py on osprey_conversation_val.json).
refcoco_vp_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    tiling,
    sam_resize,
    dict(type='LoadAnnotations', with_bbox=False, with_label=False, with_mask=True),
    dict(type='BuildReferringConversation', mode='test'),
    vp_tokenize,
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                    'gt_masks')),
]
val_dataloader = dict(dataset=dict(pipeline=refcoco_vp_test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RefCocoReferringDataset', data_root='data/synthetic_refcoco/',
                 ann_file='refcoco/instances.json', split_file='refcoco/refs(unc).p',
                 data_prefix=dict(img_path='train2014/'), split='val', test_mode=True,
                 pipeline=refcoco_vp_test_pipeline))
