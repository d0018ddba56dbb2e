# Tiny Sa2VA on synthetic questions in MVBench's layout (Moving Direction on mp4 videos,
# Episodic Reasoning on 3 fps frame folders with a clip bound), test only: the MVBench path
# end to end on 2 CPU cores, letters read by MVBench's check_ans. 4 frames of one 112 tile
# (16 tokens each); the tiny model keeps its own generation budget
# (configs/_base_/models/sa2va_tiny.py).
#   python -m desa2va_mm.synthetic.mvbench_writer --out data/synthetic_mvbench
#   python tools/test.py configs/sa2va_qa_test/sa2va_tiny_synthetic_mvbench.py \
#       work_dirs/sa2va_tiny/iter_3000.pth
_base_ = ['../_base_/models/sa2va_tiny.py', '../_base_/qa_test/mvbench.py']

test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/synthetic_mvbench/',
        tasks=['Moving Direction', 'Episodic Reasoning'],
        pipeline=[
            dict(type='LoadMVBenchFrames', num_frames=4, tile_size=112),
            dict(type='TokenizeConversation', tokenizer={{_base_.tiny_tokenizer}},
                 template='qwen2', num_image_tokens_per_tile=16, max_length=512),
            dict(type='Resize', scale=(128, 128), keep_ratio=False),
            dict(type='PackReferringInputs', meta_keys={{_base_.mcq_meta_keys}}),
        ]))
test_evaluator = dict(prefix='synthetic_mvbench')
