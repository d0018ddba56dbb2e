# Sa2VA's training mix, the part this project implements (docs/design.md §9), in one
# ConcatDataset. Sa2VA's released configs (projects/llava_sam2/configs/sa2va_{1b,4b,8b}.py
# of magic-research/Sa2VA, one data list for the three sizes) train on 18 datasets; here:
#
#   Sa2VA dataset (its class)                     Sa2VA repeats   here
#   RefCOCO (ReferSegmDataset, refs(unc))          4 (listed 4x)   refcoco x4
#   RefCOCO+ (ReferSegmDataset, refs(unc))         4 (listed 4x)   refcoco_plus x4
#   RefCOCOg (ReferSegmDataset, refs(umd))         4 (listed 4x)   refcocog x4
#   LLaVA-665k image QA (LLaVADataset)             1               llava x1
#   MeViS (VideoMeVISDataset)                      4               mevis x4
#   ReVOS (VideoReVOSDataset)                      10              revos x10
#   Ref-YouTube-VOS (VideoRefYoutubeVOSDataset)    4               ref_ytvos x4
#   video chat, ChatUniVi (VideoChatUniViDataset)  1               video_qa x1
#   SA-V pseudo-label videos (VideoSAM2Dataset)    4               sav x4
#   GCG: OpenPSG (OpenPsgGCGDataset)               1               openpsg_gcg x1
#   GCG: GranDf (GranDfGCGDataset)                 10              grandf_gcg x10
#   GCG: Flickr30k (FlickrGCGDataset)              1               flickr_gcg x1
#   GCG: RefCOCOg (RefCOCOgGCGDataset)             1               refcocog_gcg x1
#   Osprey-724K conversation, part level, LVIS     1 each          osprey_conversation x1,
#     positive / negative (OspreyDataset x3)                       osprey_part x1,
#                                                                  osprey_positive_negative x1
#   Osprey-724K detailed descriptions              1               osprey_description x1
#     (OspreyDescriptionDataset)
#   Osprey-724K short form                         1               osprey_short x1
#     (OspreyShortDescriptionDataset)
#
# Osprey (visual prompts: region masks read by the MLLM at <vp> tokens, docs/
# visual_prompts.md; Osprey-724K's files and COCO images under data/osprey-724k/) is in,
# at Sa2VA's repeats.
# SA-V (SAVDataset, Sa2VA's expression file sam_v_final_v3.json over SA-V's videos and
# masklet files, docs/dataset_prepare_video.md) is in at Sa2VA's repeats, with Sa2VA's
# long-description question and sampling: 5 objects drawn with replacement, 5 random frames
# of the annotated (every 4th) frames.
# GCG (grounded captions, one [SEG] per phrase; GLaMM's files under data/glamm_data/,
# docs/gcg.md) is in, at Sa2VA's repeats.
# Our addition, not in Sa2VA's mix: gRefCOCO x1 (multi-object and no-target expressions);
# `mix_repeats['grefcoco'] = 0` gives Sa2VA's list exactly.
# A RefCOCO sample packs up to 5 referred objects (Sa2VA: num_classes_per_sample=5, drawn
# with replacement); a video sample 5 expressions x 5 frames (Sa2VA: sampled_frames=5).
# `mix_repeats`: epoch repeats per member (RepeatDataset); 0 leaves a member out.
# Layouts: docs/dataset_prepare.md and docs/dataset_prepare_video.md.
#
# Batching: image, QA and video samples can share a batch only with the model's
# `data_preprocessor=dict(type='VideoReferringDataPreprocessor')` (images become 1-frame
# videos); with `ReferringDataPreprocessor` keep the video sets at 0 (images + QA batch
# together). Validation: RefCOCO val (cIoU / gIoU).
_base_ = ['image_pipelines.py', 'video_pipelines.py']

coco_root = 'data/coco/'
glamm_root = 'data/glamm_data/'
mix_repeats = dict(refcoco=4, refcoco_plus=4, refcocog=4, grefcoco=1, llava=1, video_qa=1,
                   mevis=4, revos=10, ref_ytvos=4, openpsg_gcg=1, grandf_gcg=10,
                   flickr_gcg=1, refcocog_gcg=1, sav=4, osprey_conversation=1,
                   osprey_description=1, osprey_part=1, osprey_short=1,
                   osprey_positive_negative=1)


def _repeat(name, dataset):
    times = mix_repeats[name]
    return [] if times == 0 else [dataset if times == 1 else dict(
        type='RepeatDataset', times=times, dataset=dataset)]


refcoco_train = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
refcoco_plus_train = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcoco+/instances.json',
    split_file='refcoco+/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
refcocog_train = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcocog/instances.json',
    split_file='refcocog/refs(umd).p', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
grefcoco_train = dict(
    type='GRefCocoDataset', data_root=coco_root, ann_file='grefcoco/instances.json',
    split_file='grefcoco/grefs(unc).json', data_prefix=dict(img_path='train2014/'),
    split='train', pipeline={{_base_.train_pipeline}})
llava_train = dict(
    type='LLaVAQADataset', data_root='data/llava/', ann_file='llava_v1_5_mix665k.json',
    data_prefix=dict(img_path='images/'), pipeline={{_base_.qa_train_pipeline}})
video_qa_train = dict(
    type='LLaVAQADataset', data_root='data/video_chat/', ann_file='video_chat.json',
    data_prefix=dict(video_path='videos/'), pipeline={{_base_.video_qa_train_pipeline}})
mevis_train = dict(type='MeViSDataset', data_root='data/mevis/train/',
                   pipeline={{_base_.video_train_pipeline}})
revos_train = dict(type='ReVOSDataset', data_root='data/revos/',
                   ann_file='meta_expressions_train_.json', foreground_file=None,
                   pipeline={{_base_.video_train_pipeline}})
ref_ytvos_train = dict(
    type='RefYTVOSDataset', data_root='data/ref_ytvos/',
    ann_file='meta_expressions/train/meta_expressions.json',
    data_prefix=dict(img_path='train/JPEGImages/', ann_path='train/Annotations/'),
    pipeline={{_base_.video_train_pipeline}})
openpsg_gcg_train = dict(
    type='OpenPsgGCGDataset', data_root=glamm_root,
    ann_file='annotations/OpenPsgGCG_train.json', data_prefix=dict(img_path='images/coco2017/'),
    pipeline={{_base_.gcg_train_pipeline}})
grandf_gcg_train = dict(
    type='GranDfGCGDataset', data_root=glamm_root,
    ann_file='annotations/GranDf_HA_GCG_train.json',
    data_prefix=dict(img_path='images/grandf/train/'), pipeline={{_base_.gcg_train_pipeline}})
flickr_gcg_train = dict(
    type='FlickrGCGDataset', data_root=glamm_root,
    ann_file='annotations/flickr_mergedGT_GCG_train.json',
    data_prefix=dict(img_path='images/flickr30k/Flickr30K/'),
    pipeline={{_base_.gcg_train_pipeline}})
refcocog_gcg_train = dict(
    type='RefCOCOgGCGDataset', data_root=glamm_root,
    ann_file='annotations/RefCOCOg_GCG_train.json',
    data_prefix=dict(img_path='images/coco2014/train2014/'),
    pipeline={{_base_.gcg_train_pipeline}})
# SA-V: Sa2VA's VideoSAM2Dataset asks its one long-description question (mode='long')
# and draws its 5 objects with replacement and 5 frames at random (no contiguous clips).
sav_question = 'Please segment the object according to the description: {expression}'
sav_train_pipeline = [
    dict(type='SampleVideoExpressions', mode='random', num_expressions=5,
         pad_with_replacement=True),
    dict(type='SampleVideoFrames', mode='train', num_frames={{_base_.video_num_frames}},
         contiguous_prob=0.0),
    dict(type='LoadVideoFrames'),
    dict(type='LoadVideoAnnotations', mode='train'),
    dict(type='VideoFrameTiling', tile_size={{_base_.video_tile_size}}),
    dict(type='ResizeVideoFrames', scale=({{_base_.video_sam_image_size}},
                                          {{_base_.video_sam_image_size}}), backend='pillow'),
    dict(type='BuildReferringConversation', mode='train', questions=[sav_question]),
    {{_base_.video_tokenize}},
    dict(type='PackVideoReferringInputs'),
]
sav_train = dict(
    type='SAVDataset', data_root='data/sav/', ann_file='sam_v_final_v3.json',
    data_prefix=dict(video_path='sam_v_full/'), pipeline=sav_train_pipeline)

# Osprey-724K: each record's regions (COCO polygons / RLE) become the sample's
# `prompt_masks`; the first question starts with "There are R part regions in the picture:
# region1<vp>...</vp>, ..." (one <IMG_CONTEXT> per cell of the 16 x 16 thumbnail grid a
# region covers). LM loss only; images searched in COCO's four folders, as Sa2VA does.
osprey_root = 'data/osprey-724k/'
osprey_image_folders = ['coco/train2014/', 'coco/val2014/', 'coco/train2017/',
                        'coco/val2017/']
osprey_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadRegionPrompts'),
    {{_base_.image_tiling}},
    {{_base_.tokenize}},
    # No [SEG] in Osprey's answers: an empty (0, H, W) mask set, as for QA samples.
    dict(type='LoadReferringMasks'),
    {{_base_.sam_resize}},
    dict(type='PackReferringInputs'),
]
osprey_common = dict(data_root=osprey_root, image_folders=osprey_image_folders,
                     pipeline=osprey_train_pipeline)
osprey_conversation_train = dict(
    type='OspreyDataset', ann_file='Osprey-724K/osprey_conversation.json', **osprey_common)
osprey_description_train = dict(
    type='OspreyDescriptionDataset', ann_file='Osprey-724K/osprey_detail_description.json',
    **osprey_common)
osprey_part_train = dict(
    type='OspreyDataset', ann_file='Osprey-724K/osprey_part_level.json', **osprey_common)
osprey_short_train = dict(
    type='OspreyShortDescriptionDataset', ann_file='Osprey-724K/osprey_short_form.json',
    **osprey_common)
osprey_positive_negative_train = dict(
    type='OspreyDataset', ann_file='Osprey-724K/osprey_lvis_positive_negative.json',
    **osprey_common)

mix_datasets = (
    _repeat('refcoco', refcoco_train) + _repeat('refcoco_plus', refcoco_plus_train) +
    _repeat('refcocog', refcocog_train) + _repeat('grefcoco', grefcoco_train) +
    _repeat('llava', llava_train) + _repeat('video_qa', video_qa_train) +
    _repeat('mevis', mevis_train) + _repeat('revos', revos_train) +
    _repeat('ref_ytvos', ref_ytvos_train) + _repeat('openpsg_gcg', openpsg_gcg_train) +
    _repeat('grandf_gcg', grandf_gcg_train) + _repeat('flickr_gcg', flickr_gcg_train) +
    _repeat('refcocog_gcg', refcocog_gcg_train) + _repeat('sav', sav_train) +
    _repeat('osprey_conversation', osprey_conversation_train) +
    _repeat('osprey_description', osprey_description_train) +
    _repeat('osprey_part', osprey_part_train) +
    _repeat('osprey_short', osprey_short_train) +
    _repeat('osprey_positive_negative', osprey_positive_negative_train))
del _repeat

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # Video sets carry metainfo `dataset_type` that image sets lack; mmdet's ConcatDataset
    # fails on a key missing from its first member unless the key is ignored.
    dataset=dict(type='ConcatDataset', datasets=mix_datasets, ignore_keys=['dataset_type']))

refcoco_val = dict(
    type='RefCocoReferringDataset', data_root=coco_root, ann_file='refcoco/instances.json',
    split_file='refcoco/refs(unc).p', data_prefix=dict(img_path='train2014/'),
    split='val', test_mode=True, pipeline={{_base_.test_pipeline}})
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=refcoco_val)
val_evaluator = dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU'])
