"""One training forward + backward of a real-size config with random weights, on CPU.

Proves the real architectures (InternViT-300M + Qwen2.5 / InternLM2 with LoRA, SAM-2
hiera-L at 1024 px, the DeSa2VA heads and losses) run end to end, without any weights:
``pretrained`` / SAM-2 ``checkpoint`` are ignored and the tokenizer is the offline
stand-in of the published vocabulary size. The input is one synthetic image (one 448 px
InternVL tile, 256 image tokens), one short conversation with one ``[SEG]`` and its mask.
Prints the build, forward and backward times, the loss terms, the number of parameters
that received a gradient and the peak resident memory.

    python tools/analysis_tools/smoke_real_size.py configs/desa2va/desa2va_1b_decouple.py
"""
import argparse
import os
import os.path as osp
import resource
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args():
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Forward + backward of a real-size config with random weights (CPU)')
    parser.add_argument('config', help='config file, e.g. configs/desa2va/desa2va_1b_decouple.py')
    parser.add_argument('--expression', default='the dog on the left',
                        help='expression of the one target')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-rss-gib', type=float, default=20.0,
                        help='fail when the peak resident memory exceeds this')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs')
    return parser.parse_args()


def peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def build_batch(model, expression: str):
    """One packed sample as the data pipeline would produce it (before the preprocessor)."""
    import numpy as np
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    from desa2va_mm.tokenization import IMG_CONTEXT_TOKEN, IMG_END_TOKEN, IMG_START_TOKEN
    tok = model.mllm.tokenizer
    size = model.grounding_encoder.image_size
    tile = model.mllm.config.vision_config.image_size[0]
    n_img = model.mllm.num_image_tokens_per_tile
    user = (f'<|im_start|>user\n{IMG_START_TOKEN}{IMG_CONTEXT_TOKEN * n_img}{IMG_END_TOKEN}\n'
            f'Please segment {expression} in this image.<|im_end|>\n<|im_start|>assistant\n')
    answer = 'It is [SEG].<|im_end|>'
    prompt_ids = tok(user, add_special_tokens=False)['input_ids']
    answer_ids = tok(answer, add_special_tokens=False)['input_ids']
    input_ids = torch.tensor(prompt_ids + answer_ids)
    labels = torch.tensor([-100] * len(prompt_ids) + answer_ids)
    assert int((input_ids == tok.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)).sum()) == n_img

    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g)
    mask = np.zeros((1, size, size), dtype=np.uint8)
    mask[:, size // 4:size // 2, size // 8:size // 2] = 1
    sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
    sample.pixel_values = torch.randn(1, 3, tile, tile, generator=g)
    sample.input_ids = [input_ids]
    sample.labels = [labels]
    sample.expression_ids = [torch.tensor(tok(expression, add_special_tokens=False)['input_ids'])]
    gt = InstanceData()
    gt.masks = BitmapMasks(mask, size, size)
    sample.gt_instances = gt
    return dict(inputs=[image], data_samples=[sample]), len(input_ids)


def main():
    args = parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from mmengine.config import Config

    from tools.analysis_tools.param_count import count_parameters

    from desa2va_mm.registry import MODELS
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.mllm.pretrained = None
    cfg.model.mllm.tokenizer.path = None
    cfg.model.grounding_encoder.checkpoint = None
    init_default_scope('desa2va_mm')

    t0 = time.perf_counter()
    model = MODELS.build(cfg.model)
    model.train()
    t_build = time.perf_counter() - t0
    counts = count_parameters(model)
    total = sum(v[0] for v in counts.values())
    trainable = sum(v[1] for v in counts.values())
    print(f'config: {args.config}  phase: {model.train_phase}  threads: '
          f'{torch.get_num_threads()}')
    print(f'built in {t_build:.1f} s: {total / 1e6:,.1f} M parameters, '
          f'{trainable / 1e6:,.1f} M trainable; RSS {peak_rss_gib():.2f} GiB')

    data, seq_len = build_batch(model, args.expression)
    t0 = time.perf_counter()
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    loss.backward()
    t_bwd = time.perf_counter() - t0

    with_grad = sum(p.numel() for p in model.parameters()
                    if p.requires_grad and p.grad is not None)
    nonfinite = [n for n, p in model.named_parameters()
                 if p.grad is not None and not torch.isfinite(p.grad).all()]
    terms = ', '.join(f'{k}={float(v.detach()):.4f}' for k, v in losses.items())
    rss = peak_rss_gib()
    print(f'sequence length {seq_len} tokens, 1 image at {model.grounding_encoder.image_size} px')
    print(f'forward {t_fwd:.1f} s, backward {t_bwd:.1f} s')
    print(f'losses: {terms}')
    print(f'parameters with a gradient: {with_grad / 1e6:,.1f} M of {trainable / 1e6:,.1f} M '
          f'trainable; non-finite gradients: {len(nonfinite)}')
    print(f'peak RSS: {rss:.2f} GiB (limit {args.max_rss_gib:.0f} GiB)')
    if nonfinite or not torch.isfinite(loss) or rss > args.max_rss_gib:
        sys.exit(1)


if __name__ == '__main__':
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    main()
