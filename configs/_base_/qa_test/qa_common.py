# Question answering on image benchmarks, test only: the generation budget, the test loop
# and the QA test pipeline's packed metainfo, shared by every base in this folder.
# A benchmark base adds its test set and metric (mmbench.py, mme.py, seed_bench.py); a
# leaf adds its model and takes the budget from here:
#   _base_ = ['../_base_/models/sa2va_1b.py', '../_base_/qa_test/mmbench.py']
#   model = dict(max_new_tokens={{_base_.qa_max_new_tokens}})
_base_ = ['../datasets/image_pipelines.py', '../default_runtime.py']

# Greedy answers of up to 1024 new tokens, Sa2VA's VLMEvalKit setting: a model that
# explains before naming its option is still scored on what it names (the model bases'
# 32 is for "Sure, [SEG]." answers). Generation stops at the end-of-turn token, so
# short answers cost no more.
qa_max_new_tokens = 1024

# What the metrics read from each prediction, besides the answers.
mcq_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                 'question_id', 'prompt', 'gt_answer', 'category', 'choices',
                 'circular_group')
mme_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                 'question_id', 'prompt', 'gt_answer', 'category', 'image_key')
test_cfg = dict(type='TestLoop')
