"""Mask loss cost: full-pixel vs Sa2VA's point-sampled loss, side by side.

Both variants compute ``L_mask + L_dice`` (BCE x2.0 + Dice x0.5, Sa2VA's weights) of N
low-res logits against N ground-truth masks and back-propagate to the logits, as a
training step does (docs/method.md §7):

* ``full_pixel``: logits upsampled (bilinear) to the ground truth's size, every pixel;
* ``point_sampled``: ``MaskPointSampler`` (12544 points, oversample 3, importance 0.75)
  on the low-res logits, ground truth brought to their size (nearest).

Real-model proportions by default: 256 x 256 logits (SAM-2 at 1024 px) and 1024 x 1024
ground truth, N = 10 masks (a batch of 2 images x Sa2VA's 5 sampled objects). Each variant
runs in its own process so that its peak memory is its own: the peak resident memory
above what the inputs occupy on the CPU (``ru_maxrss``), ``max_memory_allocated`` on CUDA.
The script prints the median step time, the peak memory and the ratios.

    python tools/analysis_tools/benchmark_mask_loss.py [--num-masks 10] [--iters 10] \
        [--logit-size 256] [--gt-size 1024] [--device cpu|cuda]
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

VARIANTS = ('full_pixel', 'point_sampled')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Full-pixel vs point-sampled mask loss: step time and peak memory at '
        'real-model proportions (each variant in its own process).',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--num-masks', type=int, default=10,
                        help='N masks in the batch (2 images x 5 objects)')
    parser.add_argument('--logit-size', type=int, default=256,
                        help="side of SAM-2's low-res logits (256 at 1024 px)")
    parser.add_argument('--gt-size', type=int, default=1024,
                        help='side of the ground-truth masks (the SAM-2 input size)')
    parser.add_argument('--num-points', type=int, default=12544,
                        help='points per mask of the point-sampled loss')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per variant')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--worker', choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ('num_masks', 'logit_size', 'gt_size', 'num_points', 'iters'):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def _rss_mib() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _max_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(args) -> dict:
    """Time one variant in this process; returns its figures."""
    import torch

    import desa2va_mm  # noqa: F401
    from desa2va_mm.models.losses import MaskPointSampler
    from desa2va_mm.models.seg_heads import segmentation_losses
    from desa2va_mm.models.seg_heads.base_seg_head import DEFAULT_LOSS_DICE, DEFAULT_LOSS_MASK
    from desa2va_mm.registry import MODELS
    device = torch.device(args.device)
    loss_mask, loss_dice = MODELS.build(DEFAULT_LOSS_MASK), MODELS.build(DEFAULT_LOSS_DICE)
    sampler = MaskPointSampler(num_points=args.num_points) \
        if args.worker == 'point_sampled' else None
    g = torch.Generator().manual_seed(0)
    n, s, side = args.num_masks, args.logit_size, args.gt_size
    logits = (torch.randn(n, 1, s, s, generator=g) * 4).to(device).requires_grad_()
    # Ground truth: one rectangle per mask, as float (what the segmentor hands the head).
    gt = torch.zeros(n, side, side)
    for i in range(n):
        y0, x0 = torch.randint(0, side // 2, (2, ), generator=g).tolist()
        gt[i, y0:y0 + side // 3, x0:x0 + side // 4] = 1
    gt = gt.to(device)

    def step():
        logits.grad = None
        mask, dice = segmentation_losses(logits, gt, loss_mask, loss_dice, sampler)
        (mask + dice).backward()
        return float(mask + dice)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    base_rss = _rss_mib()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated() / 2**20
    loss = step()  # warm-up
    times = []
    for _ in range(args.iters):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2**20 - base_cuda
    else:
        peak = _max_rss_mib() - base_rss
    return dict(variant=args.worker, step_s=statistics.median(times), peak_mib=peak,
                loss=loss, threads=torch.get_num_threads())


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    forwarded = ['--num-masks', str(args.num_masks), '--logit-size', str(args.logit_size),
                 '--gt-size', str(args.gt_size), '--num-points', str(args.num_points),
                 '--iters', str(args.iters), '--device', args.device]
    results = {}
    for variant in VARIANTS:
        print(f'[benchmark_mask_loss] running {variant} ({args.iters} iterations)...',
              file=sys.stderr, flush=True)
        done = subprocess.run([sys.executable, osp.abspath(__file__), *forwarded,
                               '--worker', variant], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f'{variant} failed:\n{done.stderr[-2000:]}')
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    full, sampled = results['full_pixel'], results['point_sampled']
    memory = 'peak CUDA MiB' if args.device == 'cuda' else 'peak RSS MiB'
    print(f'N={args.num_masks} masks, logits {args.logit_size}^2, ground truth '
          f'{args.gt_size}^2, {args.num_points} points, device {args.device}, '
          f"threads {full['threads']}, median of {args.iters}")
    print(f"{'loss':<15}{'step (ms)':>12}{memory:>16}{'loss value':>12}")
    for name, r in results.items():
        print(f"{name:<15}{r['step_s'] * 1000:12.1f}{r['peak_mib']:16.1f}{r['loss']:12.4f}")
    print(f"ratio point_sampled / full_pixel: step time "
          f"{sampled['step_s'] / full['step_s']:.3f}, peak memory "
          f"{sampled['peak_mib'] / max(full['peak_mib'], 1e-9):.3f}")
    print('command: python tools/analysis_tools/benchmark_mask_loss.py ' +
          ' '.join(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    main()
