# LLaVA-style question answering (docs/dataset_prepare.md):
#   data/llava/llava_v1_5_mix665k.json + data/llava/images/{coco,gqa,ocr_vqa,textvqa,vg}/...
#   data/video_chat/video_chat.json + data/video_chat/videos/<clip>.mp4 (or frame folders)
# Training: language-model loss only (no [SEG]; the model's zero-weighted mask path keeps
# every rank's graph the same). Test: the first question of each record is answered and
# QAAnswerWriter writes {question_id, prompt, answer} per line (JSONL) for an external
# evaluator; raise model.max_new_tokens for long answers.
_base_ = ['image_pipelines.py']

llava_train = dict(
    type='LLaVAQADataset', data_root='data/llava/', ann_file='llava_v1_5_mix665k.json',
    data_prefix=dict(img_path='images/'), pipeline={{_base_.qa_train_pipeline}})
video_qa_train = dict(
    type='LLaVAQADataset', data_root='data/video_chat/', ann_file='video_chat.json',
    data_prefix=dict(video_path='videos/'), pipeline={{_base_.video_qa_train_pipeline}})
llava_test = dict(
    type='LLaVAQADataset', data_root='data/llava/', ann_file='questions.json',
    data_prefix=dict(img_path='images/'), test_mode=True,
    pipeline={{_base_.qa_test_pipeline}})

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=llava_train)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=llava_test)
test_evaluator = dict(type='QAAnswerWriter', out_file='work_dirs/qa_answers.jsonl')
