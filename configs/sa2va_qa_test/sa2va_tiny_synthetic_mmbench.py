# Tiny Sa2VA on synthetic multiple-choice questions in the MMBench TSV layout ("What colour
# is the square?" with four colour options, circular copies included), test only: the QA
# path end to end on 2 CPU cores. The tiny model keeps its own generation budget
# (configs/_base_/models/sa2va_tiny.py).
#   python -m desa2va_mm.synthetic.qa_mcq --out data/synthetic_mcq/synthetic_mcq.tsv --circular
#   python tools/test.py configs/sa2va_qa_test/sa2va_tiny_synthetic_mmbench.py \
#       work_dirs/sa2va_tiny/iter_3000.pth
_base_ = ['../_base_/models/sa2va_tiny.py', '../_base_/qa_test/mmbench.py']

tokenizer = dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco')
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/synthetic_mcq/',
        ann_file='synthetic_mcq.tsv',
        pipeline=[
            dict(type='InternVLTiling', tile_size=112, min_tiles=1, max_tiles=1,
                 use_thumbnail=False),
            dict(type='TokenizeConversation', tokenizer=tokenizer, template='qwen2',
                 num_image_tokens_per_tile=16, max_length=256),
            dict(type='Resize', scale=(128, 128), keep_ratio=False),
            dict(type='PackReferringInputs', meta_keys={{_base_.mcq_meta_keys}}),
        ]))
test_evaluator = dict(prefix='synthetic_mcq')
