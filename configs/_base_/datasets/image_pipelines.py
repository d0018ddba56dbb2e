# Image pipelines shared by the real-resolution image datasets (RefCOCO/+/g, gRefCOCO,
# ReasonSeg, LLaVA QA) and the Sa2VA mix, Sa2VA's recipe (docs/design.md §9):
# InternVL dynamic tiling, 1-12 tiles of 448 + a thumbnail (256 tokens each); SAM-2 input
# resized directly to 1024 x 1024 with PIL bicubic, Sa2VA's DirectResize (ImageNet mean/std
# applied by the data preprocessor).
#
# Tokenizer and chat template: the model's (tokenizer=None, template=None). The runner's
# ModelTokenizerHook hands them to every pipeline, so they follow `model.mllm.pretrained`
# for every backbone (Qwen2.5 or InternLM2.5) without restating the pipelines.
sam_image_size = 1024
max_length = 8192

# Training masks are resized with the image (nearest neighbour), test masks stay at the
# original size for the metric.
sam_resize = dict(type='DirectResize', scale=(sam_image_size, sam_image_size))
image_tiling = dict(type='InternVLTiling', tile_size=448, min_tiles=1, max_tiles=12,
                    use_thumbnail=True)
tokenize = dict(type='TokenizeConversation', tokenizer=None, template=None,
                num_image_tokens_per_tile=256, max_length=max_length)
# Prompts (BuildReferringConversation, defaults): training draws Sa2VA's sixteen
# segmentation questions and five answers; test asks Sa2VA's evaluation question
# "<image>\n Please segment {sentence} in this image."; ReasonSeg's is_sentence queries
# are used verbatim.
test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                  'gt_masks')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='random', max_objects=5),
    # Masks at the original size, then resized with the SAM-2 image.
    dict(type='LoadReferringMasks'),
    image_tiling,
    sam_resize,
    dict(type='BuildReferringConversation', mode='train'),
    tokenize,
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    image_tiling,
    sam_resize,
    # After the resize: ground truth stays at the original resolution for the metric.
    dict(type='LoadReferringMasks'),
    dict(type='BuildReferringConversation', mode='test'),
    tokenize,
    dict(type='PackReferringInputs', meta_keys=test_meta_keys),
]

# LLaVA-style question answering (LM loss only: no [SEG], an empty (0, H, W) mask set so
# QA samples batch with referring ones).
qa_train_pipeline = [
    dict(type='LoadImageFromFile'),
    image_tiling,
    tokenize,
    dict(type='LoadReferringMasks'),
    sam_resize,
    dict(type='PackReferringInputs'),
]
qa_test_pipeline = [
    dict(type='LoadImageFromFile'),
    image_tiling,
    tokenize,
    sam_resize,
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'question_id', 'prompt')),
]
# Video QA: 5 frames, one 448 tile each, in place of the image's tiles.
video_qa_train_pipeline = [
    dict(type='LoadQAVideoFrames', num_frames=5, tile_size=448),
    tokenize,
    dict(type='LoadReferringMasks'),
    sam_resize,
    dict(type='PackReferringInputs'),
]
video_qa_test_pipeline = [
    dict(type='LoadQAVideoFrames', num_frames=5, tile_size=448),
    tokenize,
    sam_resize,
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'question_id', 'prompt')),
]

# Grounded conversation generation (GCG: GranD-f, Flickr30k, OpenPSG, RefCOCOg GCG;
# docs/gcg.md): Sa2VA's GCG question, the caption as the answer with each grounded phrase
# as "<p> phrase </p> [SEG]", one mask per [SEG] in caption order. Test: the first GCG
# question; the metric reads the ground-truth caption and phrases from the metainfo.
gcg_test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                      'gt_masks', 'gt_caption', 'gt_phrases')
gcg_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringMasks'),
    image_tiling,
    sam_resize,
    dict(type='BuildGCGConversation', mode='train'),
    tokenize,
    dict(type='PackReferringInputs'),
]
gcg_test_pipeline = [
    dict(type='LoadImageFromFile'),
    image_tiling,
    sam_resize,
    dict(type='LoadReferringMasks'),
    dict(type='BuildGCGConversation', mode='test'),
    tokenize,
    dict(type='PackReferringInputs', meta_keys=gcg_test_meta_keys),
]
