# Image pipelines shared by the real-resolution image datasets (RefCOCO/+/g, gRefCOCO,
# ReasonSeg, LLaVA QA) and the Sa2VA mix, Sa2VA's recipe (DESIGN.md §4):
# InternVL dynamic tiling, 1-12 tiles of 448 + a thumbnail (256 tokens each); SAM-2 input
# resized directly to 1024 x 1024 (ImageNet mean/std applied by the data preprocessor).
#
# The tokenizer must be the model's. This default is InternVL2.5-1B / 4B's
# (`configs/_base_/models/sa2va_{1b,4b}.py`; the offline stand-in while path=None). For
# InternVL2.5-8B (InternLM2.5: stand_in_vocab_size=92553, chat_template='internlm2') or a
# real checkpoint folder, see "Tokenizer of the data pipelines" in docs/dataset_prepare.md.
data_tokenizer = dict(type='InternVLTokenizer', path=None, stand_in_vocab_size=151674)
chat_template = 'qwen2'
sam_image_size = 1024
max_length = 8192

image_tiling = dict(type='InternVLTiling', tile_size=448, min_tiles=1, max_tiles=12,
                    use_thumbnail=True)
tokenize = dict(type='TokenizeConversation', tokenizer=data_tokenizer, template=chat_template,
                num_image_tokens_per_tile=256, max_length=max_length)
test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'text',
                  'gt_masks')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='random', max_objects=5),
    # Masks at the original size, then resized with the SAM-2 image.
    dict(type='LoadReferringMasks'),
    image_tiling,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='BuildReferringConversation', mode='train'),
    tokenize,
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='all'),
    image_tiling,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    # After Resize: ground truth stays at the original resolution for the metric.
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
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='PackReferringInputs'),
]
qa_test_pipeline = [
    dict(type='LoadImageFromFile'),
    image_tiling,
    tokenize,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'question_id', 'prompt')),
]
# Video QA: 5 frames, one 448 tile each, in place of the image's tiles.
video_qa_train_pipeline = [
    dict(type='LoadQAVideoFrames', num_frames=5, tile_size=448),
    tokenize,
    dict(type='LoadReferringMasks'),
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='PackReferringInputs'),
]
video_qa_test_pipeline = [
    dict(type='LoadQAVideoFrames', num_frames=5, tile_size=448),
    tokenize,
    dict(type='Resize', scale=(sam_image_size, sam_image_size), keep_ratio=False),
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'question_id', 'prompt')),
]
