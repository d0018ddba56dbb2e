# Synthetic multiple-choice colour questions ("What colour is the square?" with four
# options, python -m desa2va_mm.synthetic.qa_mcq) mixed with the synthetic RefCOCO set, at
# the tiny model's resolutions: SAM-2 at 128 px, one 112 px InternVL tile (16 tokens).
# Training: the questions in LLaVA's layout (LLaVAQADataset; seed 1 pictures, not among the
# RefCOCO set's); test: the questions in MMBench's TSV layout (MMBenchDataset; seed 2
# pictures, circular copies), scored by MultipleChoiceMetric (docs/qa_eval.md).
_base_ = ['synthetic_refcoco_tiny.py']

mcq_train_root = 'data/synthetic_mcq_train/'
mcq_test_root = 'data/synthetic_mcq/'
# The prompt's words outside the tiny vocabulary (desa2va_mm.synthetic.qa_mcq.MCQ_WORDS):
# the option letters b-d and the instruction line. The model must read the same words
# (configs/sa2va/sa2va_tiny_qa.py).
qa_tokenizer = dict(
    type='TinyWordTokenizer', vocabulary='synthetic_refcoco',
    words=('answer', 'b', 'c', 'choices', 'colour', 'd', 'directly', 'from', 'given',
           'letter', 'option', 's'))
qa_tokenize = dict(type='TokenizeConversation', tokenizer=qa_tokenizer, template='qwen2',
                   num_image_tokens_per_tile=16, max_length=256)
tiling = dict(type='InternVLTiling', tile_size=112, min_tiles=1, max_tiles=1,
              use_thumbnail=False)
sam_resize = dict(type='Resize', scale=(128, 128), keep_ratio=False)
mcq_train_pipeline = [
    dict(type='LoadImageFromFile'),
    tiling,
    qa_tokenize,
    dict(type='LoadReferringMasks'),
    sam_resize,
    dict(type='PackReferringInputs'),
]
# The synthetic RefCOCO training pipeline with the question-aware tokenizer.
refcoco_qa_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SampleReferringTargets', mode='random', max_objects=3),
    dict(type='LoadAnnotations', with_bbox=False, with_label=False, with_mask=True),
    tiling,
    sam_resize,
    dict(type='BuildReferringConversation', mode='train',
         questions=('Please segment {expression} in this image.', )),
    qa_tokenize,
    dict(type='PackReferringInputs'),
]
# Epoch repeats of each member.
qa_mix_repeats = dict(refcoco=1, mcq=1)
qa_members = dict(
    refcoco=dict(type='RefCocoReferringDataset', data_root='data/synthetic_refcoco/',
                 ann_file='refcoco/instances.json', split_file='refcoco/refs(unc).p',
                 data_prefix=dict(img_path='train2014/'), split='train',
                 pipeline=refcoco_qa_train_pipeline),
    mcq=dict(type='LLaVAQADataset', data_root=mcq_train_root,
             ann_file='synthetic_mcq_train.json', pipeline=mcq_train_pipeline))
train_dataloader = dict(
    dataset=dict(_delete_=True, type='ConcatDataset', datasets=[
        qa_members[name] if times == 1 else dict(type='RepeatDataset', times=times,
                                                 dataset=qa_members[name])
        for name, times in qa_mix_repeats.items() if times > 0]))

mcq_test_pipeline = [
    tiling,
    qa_tokenize,
    sam_resize,
    dict(type='PackReferringInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'question_id', 'prompt', 'gt_answer', 'category', 'choices',
                    'circular_group')),
]
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='MMBenchDataset', data_root=mcq_test_root,
                 ann_file='synthetic_mcq.tsv', test_mode=True, pipeline=mcq_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='MultipleChoiceMetric', prefix='synthetic_mcq')
test_evaluator = val_evaluator
