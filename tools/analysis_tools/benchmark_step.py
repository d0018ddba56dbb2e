"""DeSa2VA vs the Sa2VA baseline: training-step and inference time, side by side.

Both models share the backbone (MLLM + SAM-2) and the batch; DeSa2VA adds the decoupling
neck, a second SAM-2 decoder, the fusion gate, the adversarial / CLUB losses and one
re-prompting pass (k=1), all reading the one image encoding. The script prints the median
times and the ratios DeSa2VA / Sa2VA.

    python tools/analysis_tools/benchmark_step.py [--size small|tiny] [--iters 10] \
        [--data-root data/synthetic_refcoco]

``small`` widens the tiny configs (LLM 512 x 4 layers, ViT 256 x 4, SAM-2 at 256 px with a
wider Hiera) so that, as in the real models, the MLLM and the SAM-2 encoder dominate.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

SMALL = dict(
    mllm=dict(model_config=dict(
        vision_config=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                           num_attention_heads=4, image_size=224),
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=4,
                         num_attention_heads=8, num_key_value_heads=4))),
    grounding_encoder=dict(overrides=dict(
        image_size=256,
        image_encoder=dict(trunk=dict(embed_dim=32, stages=[1, 2, 4, 1],
                                      global_att_blocks=[5, 6]),
                           neck=dict(backbone_channel_list=[256, 128, 64, 32])),
        memory_attention=dict(layer=dict(self_attention=dict(feat_sizes=[16, 16]),
                                         cross_attention=dict(feat_sizes=[16, 16]))))))


def parse_args():
    parser = argparse.ArgumentParser(description='DeSa2VA vs Sa2VA step / inference time')
    parser.add_argument('--size', choices=['small', 'tiny'], default='small',
                        help='model size (small: MLLM and SAM-2 encoder dominate)')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per model')
    parser.add_argument('--batch-size', type=int, default=4, help='images per batch')
    parser.add_argument('--data-root', default='data/synthetic_refcoco',
                        help='synthetic RefCOCO root (make_synthetic_refcoco.py)')
    return parser.parse_args()


def _configs(args):
    from mmengine.config import Config
    out = {}
    for name, path in (('Sa2VA', 'configs/sa2va_tiny.py'),
                       ('DeSa2VA', 'configs/desa2va_tiny_fusion.py')):
        cfg = Config.fromfile(osp.join(REPO_ROOT, path))
        if args.size == 'small':
            cfg.merge_from_dict(dict(model=SMALL))
            cfg.train_dataloader.dataset.pipeline[3].tile_size = 224
            cfg.train_dataloader.dataset.pipeline[4].scale = (256, 256)
            cfg.train_dataloader.dataset.pipeline[6].num_image_tokens_per_tile = 64
        cfg.train_dataloader.dataset.data_root = args.data_root + '/'
        out[name] = cfg
    return out


def _median_time(fn, iters):
    fn()  # warm-up
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS, MODELS
    init_default_scope('desa2va')
    cfgs = _configs(args)
    dataset = DATASETS.build(cfgs['Sa2VA'].train_dataloader.dataset)
    data = pseudo_collate([dataset[i] for i in range(args.batch_size)])
    results = {}
    for name, cfg in cfgs.items():
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=1e-5)

        def train_step():
            model.train()
            batch = model.data_preprocessor(data, training=True)
            losses = model(**batch, mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            optim.zero_grad()
            loss.backward()
            optim.step()

        def infer():
            model.eval()
            with torch.no_grad():
                batch = model.data_preprocessor(data, training=True)
                model(**batch, mode='tensor')

        results[name] = (_median_time(train_step, args.iters), _median_time(infer, args.iters),
                         sum(p.numel() for p in model.parameters()) / 1e6)
    print(f'size={args.size} batch={args.batch_size} iters={args.iters} '
          f'threads={torch.get_num_threads()}')
    print(f"{'model':<10}{'params (M)':>12}{'train step (s)':>16}{'inference (s)':>15}")
    for name, (train_t, infer_t, n) in results.items():
        print(f'{name:<10}{n:12.2f}{train_t:16.4f}{infer_t:15.4f}')
    (st, si, _), (dt, di, _) = results['Sa2VA'], results['DeSa2VA']
    print(f'ratio DeSa2VA / Sa2VA: train step {dt / st:.3f}, inference (re-prompt k=1) '
          f'{di / si:.3f}')
    print('command: python tools/analysis_tools/benchmark_step.py ' + ' '.join(sys.argv[1:]))


if __name__ == '__main__':
    main()
