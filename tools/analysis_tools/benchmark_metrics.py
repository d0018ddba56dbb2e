"""Fast J&F vs the official per-frame DAVIS algorithm: timings, ratio and differences.

Both compute, for every frame of a clip, region J and boundary F exactly as
davis2017-evaluation (and the MeViS / ReVOS evaluators built on it) define them:

* reference: :mod:`desa2va_mm.evaluation.functional.davis_reference` — ``db_eval_iou``
  on the clip and ``f_measure`` per frame (full-frame ``seg2bmap``,
  ``skimage.morphology.disk`` + ``cv2.dilate``);
* fast: :func:`desa2va_mm.evaluation.functional.jf_per_frame` (what the metrics use:
  bit-packed masks, boundary points, a coarse grid and exact searches; see its module).

Masks are synthetic and seeded: ground truth = a union of ellipses; prediction = the
ground truth shifted by up to 4 px and eroded / dilated by 1-2 px, plus one frame in
eight replaced by an unrelated mask, one empty prediction and one empty ground truth per
clip. ``--objects typical`` draws objects covering 1-4 % of the frame (10th-90th
percentile; MeViS / ReVOS scale), ``large`` 6-30 %. Both implementations run in this one
process on the same frames, interleaved, and the best of ``--repeats`` runs is kept::

    python tools/analysis_tools/benchmark_metrics.py [--frames 30] [--repeats 3]
        [--objects typical large] [--sizes 480p 720p 1080p] [--cv2-threads N]

It prints per-frame milliseconds, the speed-up and the largest |difference| in J and F
(which must be 0; the tests require <= 1e-9).
"""
import argparse
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

SIZES = {'480p': (480, 854), '720p': (720, 1280), '1080p': (1080, 1920)}
OBJECT_SCALE = {'typical': (0.03, 0.15), 'large': (0.15, 0.4)}


def parse_args():
    parser = argparse.ArgumentParser(
        description='Time the fast J&F against the official DAVIS algorithm, side by side')
    parser.add_argument('--frames', type=int, default=30, help='frames per clip and size')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed runs of each implementation (best is kept)')
    parser.add_argument('--sizes', nargs='+', default=list(SIZES), choices=list(SIZES))
    parser.add_argument('--objects', nargs='+', default=['typical', 'large'],
                        choices=list(OBJECT_SCALE))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cv2-threads', type=int, default=None,
                        help="cv2.setNumThreads for both (default: OpenCV's own choice)")
    args = parser.parse_args()
    if args.frames < 1 or args.repeats < 1:
        parser.error('--frames and --repeats must be >= 1')
    return args


def make_clip(rng, height, width, frames, scale):
    """(gt, pred) bool arrays (T, H, W) as described in the module docstring."""
    lo, hi = scale

    def one_mask():
        mask = np.zeros((height, width), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            axes = (max(1, int(width * rng.uniform(lo, hi) / 2)),
                    max(1, int(height * rng.uniform(lo, hi))))
            cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        return mask

    gts, preds = [], []
    for t in range(frames):
        gt = one_mask()
        dy, dx = (int(v) for v in rng.integers(-4, 5, 2))
        pred = np.roll(gt, (dy, dx), (0, 1))
        k = int(rng.integers(1, 3)) * 2 + 1
        pred = (cv2.dilate if rng.random() < 0.5 else cv2.erode)(pred, np.ones((k, k), np.uint8))
        if t % 8 == 7:
            pred = one_mask()
        gts.append(gt)
        preds.append(pred)
    preds[0][:] = 0  # an empty prediction (no [SEG])
    gts[-1][:] = 0  # an expression absent from a frame
    return np.stack(gts).astype(bool), np.stack(preds).astype(bool)


def reference_jf(gt, pred):
    from desa2va_mm.evaluation.functional.davis_reference import (
        reference_db_eval_boundary, reference_db_eval_iou)
    return reference_db_eval_iou(gt, pred), reference_db_eval_boundary(gt, pred)


def main():
    args = parse_args()
    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    from desa2va_mm.evaluation.functional import boundary_radius, jf_per_frame
    print('command: python tools/analysis_tools/benchmark_metrics.py ' + ' '.join(sys.argv[1:]))
    print(f'OpenCV threads: {cv2.getNumThreads()}, frames per clip: {args.frames}, '
          f'best of {args.repeats}')
    header = (f"{'objects':<8} {'size':<6} {'HxW':<10} {'r':>3} {'reference':>13} "
              f"{'fast':>13} {'speed-up':>9} {'max|dJ|':>9} {'max|dF|':>9}")
    print(header)
    print('-' * len(header))
    rng = np.random.default_rng(args.seed)
    worst = np.inf
    for objects in args.objects:
        for size in args.sizes:
            height, width = SIZES[size]
            gt, pred = make_clip(rng, height, width, args.frames, OBJECT_SCALE[objects])
            ref_times, fast_times = [], []
            for _ in range(args.repeats):  # interleaved: machine load hits both alike
                start = time.perf_counter()
                ref_j, ref_f = reference_jf(gt, pred)
                ref_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                j, f = jf_per_frame(gt, pred)
                fast_times.append(time.perf_counter() - start)
            t_ref, t_fast = min(ref_times) / args.frames, min(fast_times) / args.frames
            worst = min(worst, t_ref / t_fast)
            print(f'{objects:<8} {size:<6} {height}x{width:<5} '
                  f'{boundary_radius(height, width):>3} {t_ref * 1e3:>9.2f} ms '
                  f'{t_fast * 1e3:>9.3f} ms {t_ref / t_fast:>8.1f}x '
                  f'{np.max(np.abs(j - ref_j)):>9.1e} {np.max(np.abs(f - ref_f)):>9.1e}')
    print(f'smallest speed-up: {worst:.1f}x (load average {os.getloadavg()[0]:.1f} on '
          f'{os.cpu_count()} CPUs)')


if __name__ == '__main__':
    main()
