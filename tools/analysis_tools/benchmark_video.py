"""Streaming video inference: per-frame latency and peak RSS against video length.

Each length runs in a fresh subprocess (so the peak RSS of one run does not hide another's):
the model (random weights) segments a synthetic video streamed from a generator, one frame
at a time, with the first 5 frames as key frames. Printed: seconds per frame (mean over the
frames after the key frames) and peak RSS, with ratios against the 8-frame run (time) and
the 32-frame run (memory). Goals: time at 512 frames within 1.15x of 8 frames;
peak RSS at 512 frames within 1.2x of 32 frames.

    python tools/analysis_tools/benchmark_video.py [--lengths 8 32 128 512] \
        [--size small|tiny] [--frame-size 480 640] [--expressions 2] [--preload]

``--preload`` first reads the whole video into a list (what Sa2VA's video inference does
with frames at 1024 px), for comparison: its memory grows with the video.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

MODEL_CONFIG = 'configs/_base_/models/desa2va_tiny_video.py'
#: The ``small`` size of benchmark_step.py: SAM-2 at 256 px with a wider Hiera.
SMALL_SAM2 = dict(grounding_encoder=dict(overrides=dict(
    image_size=256,
    image_encoder=dict(trunk=dict(embed_dim=32, stages=[1, 2, 4, 1], global_att_blocks=[5, 6]),
                       neck=dict(backbone_channel_list=[256, 128, 64, 32])),
    memory_attention=dict(layer=dict(self_attention=dict(feat_sizes=[16, 16]),
                                     cross_attention=dict(feat_sizes=[16, 16]))))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[8, 32, 128, 512],
                        help='video lengths (frames), each in a fresh process')
    parser.add_argument('--size', choices=['tiny', 'small'], default='small',
                        help='SAM-2 size (small: 256 px, wider Hiera)')
    parser.add_argument('--frame-size', type=int, nargs=2, default=[480, 640],
                        metavar=('H', 'W'), help='synthetic frame size')
    parser.add_argument('--expressions', type=int, default=2, help='objects tracked together')
    parser.add_argument('--preload', action='store_true',
                        help='read the whole video first (Sa2VA-style) instead of streaming')
    parser.add_argument('--child', type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(args) -> dict:
    """Segment one synthetic video of ``args.child`` frames; print a JSON line."""
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import MODELS
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO_ROOT, MODEL_CONFIG))
    if args.size == 'small':
        cfg.merge_from_dict(dict(model=SMALL_SAM2))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    num = args.child
    h, w = args.frame_size

    def frames():
        rng = np.random.default_rng(0)
        for _ in range(num):
            yield rng.integers(0, 256, (h, w, 3), dtype=np.uint8)

    source = list(frames()) if args.preload else frames()
    seg_hidden = torch.randn(args.expressions, model.mllm.hidden_size)
    times = []
    start = time.perf_counter()
    for out in model.segment_video(source, seg_hidden, list(range(5)), num_frames=num):
        now = time.perf_counter()
        if not out['is_key_frame']:
            times.append(now - start)
        start = now
        del out
    per_frame = sum(times) / len(times) if times else float('nan')
    return dict(frames=num, per_frame_s=per_frame, peak_rss_mb=_peak_rss_mb(),
                bank=len(model.video_tracker.memory_bank))


def main():
    args = parse_args()
    if args.child is not None:
        print('RESULT ' + json.dumps(run_child(args)), flush=True)
        return
    rows = []
    for num in args.lengths:
        cmd = [sys.executable, osp.abspath(__file__), '--child', str(num), '--size', args.size,
               '--frame-size', *map(str, args.frame_size), '--expressions',
               str(args.expressions)] + (['--preload'] if args.preload else [])
        print(f'running {num} frames ...', flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
        if proc.returncode != 0 or not lines:
            sys.exit(f'{num}-frame run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}')
        rows.append(json.loads(lines[-1][len('RESULT '):]))
    by_len = {r['frames']: r for r in rows}
    t_ref = by_len.get(8, rows[0])
    m_ref = by_len.get(32, rows[0])
    mode = 'preload' if args.preload else 'stream'
    print(f"\nsize={args.size} frames={args.frame_size[0]}x{args.frame_size[1]} "
          f"expressions={args.expressions} mode={mode} threads="
          f"{os.environ.get('OMP_NUM_THREADS', '?')}")
    print(f"{'frames':>7} {'s/frame':>9} {'time vs 8':>10} {'peak RSS MB':>12} "
          f"{'RSS vs 32':>10} {'bank':>5}")
    for r in rows:
        print(f"{r['frames']:>7} {r['per_frame_s']:>9.4f} "
              f"{r['per_frame_s'] / t_ref['per_frame_s']:>10.3f} {r['peak_rss_mb']:>12.1f} "
              f"{r['peak_rss_mb'] / m_ref['peak_rss_mb']:>10.3f} {r['bank']:>5}")
    last = rows[-1]
    print(f"goal: time {last['frames']} vs {t_ref['frames']} frames "
          f"{last['per_frame_s'] / t_ref['per_frame_s']:.3f} (<= 1.15); peak RSS "
          f"{last['frames']} vs {m_ref['frames']} frames "
          f"{last['peak_rss_mb'] / m_ref['peak_rss_mb']:.3f} (<= 1.2)")


if __name__ == '__main__':
    main()
