"""Cost of the NaN / Inf guard: tiny-model training steps with MMEngine's ``OptimWrapper``
vs ``NonFiniteGuardOptimWrapper``, measured side by side (interleaved) in one run.

    python tools/analysis_tools/benchmark_non_finite_guard.py [--config configs/sa2va/sa2va_tiny.py]
        [--steps 20] [--batch-size 4]

Prints the median step time of each wrapper and their ratio. Uses the synthetic RefCOCO
set written to a temporary folder (16 images).
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='configs/sa2va/sa2va_tiny.py')
    parser.add_argument('--steps', type=int, default=20, help='timed steps per wrapper')
    parser.add_argument('--batch-size', type=int, default=4)
    return parser.parse_args()


def main():
    args = parse_args()
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import OptimWrapper
    from mmengine.registry import init_default_scope

    from desa2va_mm.engine.optimizers import NonFiniteGuardOptimWrapper
    from desa2va_mm.registry import DATASETS, MODELS
    from desa2va_mm.synthetic import make_synthetic_refcoco
    init_default_scope('desa2va_mm')
    root = tempfile.mkdtemp(prefix='bench_guard_')
    make_synthetic_refcoco(root, num_images=16, seed=0)
    cfg = Config.fromfile(osp.join(REPO_ROOT, args.config))
    cfg.train_dataloader.dataset.data_root = root + '/'
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(args.batch_size)])
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    params = [p for p in model.parameters() if p.requires_grad]
    wrappers = {
        'OptimWrapper': OptimWrapper(torch.optim.AdamW(params, lr=1e-5),
                                     clip_grad=dict(max_norm=1.0)),
        'NonFiniteGuardOptimWrapper': NonFiniteGuardOptimWrapper(
            torch.optim.AdamW(params, lr=1e-5), clip_grad=dict(max_norm=1.0)),
    }
    times = {name: [] for name in wrappers}
    for step in range(args.steps + 2):
        for name, wrapper in wrappers.items():  # interleaved: same machine load
            start = time.perf_counter()
            model.train_step(batch, optim_wrapper=wrapper)
            if step >= 2:  # warm-up
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times['OptimWrapper'])
    guard = statistics.median(times['NonFiniteGuardOptimWrapper'])
    print(f'{len(params)} trainable tensors, batch {args.batch_size}, {args.steps} steps each')
    print(f'OptimWrapper               median step {base * 1e3:8.1f} ms')
    print(f'NonFiniteGuardOptimWrapper median step {guard * 1e3:8.1f} ms')
    print(f'ratio guard / plain: {guard / base:.3f}')


if __name__ == '__main__':
    main()
