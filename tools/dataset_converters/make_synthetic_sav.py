"""Write synthetic videos in the SA-V layout with Sa2VA's pseudo-label expression file.

Example::

    python tools/dataset_converters/make_synthetic_sav.py \
        --out data/synthetic_sav --num-videos 20 --num-frames 12 --seed 0

Loads with ``SAVDataset(data_root=OUT, data_prefix=dict(video_path='sav_train/'))``:
``sam_v_final_v3.json`` (objects and their descriptions per video),
``sav_train/sav_000/<video>.mp4`` (24 fps, annotated frame k at frame 4 k) and
``sav_train/sav_000/<video>_manual.json`` (SA-V's ``masklet``: per annotated frame, one
COCO RLE per object). Video ``i`` is the synthetic MeViS writer's video ``i`` for the
same seed, frame count, size and layout (docs/dataset_prepare_video.md).
"""
import argparse
import os.path as osp
import sys
import time

# Works from a fresh clone: make ``import desa2va_mm`` find this checkout.
REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# A light package (NumPy, OpenCV, pycocotools, PyAV): no torch or mmdet import.
from desa2va_mm.synthetic.sav_writer import make_synthetic_sav  # noqa: E402


def int_at_least(low: int):
    """argparse type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}')
        if value < low:
            raise argparse.ArgumentTypeError(f'must be >= {low}, got {value}')
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        description='Generate a synthetic SA-V-layout video set (mp4 at 24 fps, masklets '
        'as COCO RLE every 4th frame, one described object per masklet in Sa2VA\'s '
        'expression file) from the synthetic moving-shape videos.')
    parser.add_argument('--out', required=True, help='output directory (created if missing)')
    parser.add_argument('--num-videos', type=int_at_least(1), required=True,
                        help='number of videos')
    parser.add_argument('--num-frames', type=int_at_least(2), default=12,
                        help='annotated frames per video (default 12)')
    parser.add_argument('--seed', type=int_at_least(0), default=0,
                        help='dataset seed (the MeViS writer\'s videos for the same seed)')
    parser.add_argument('--image-size', type=int_at_least(64), default=128,
                        help='side of the square frames in pixels, even (default 128)')
    parser.add_argument('--stride', type=int_at_least(1), default=4,
                        help='decoded frames per annotated frame (SA-V: 4)')
    parser.add_argument('--layout', choices=('default', 'motion_pairs'), default='default',
                        help='which synthetic videos (as make_synthetic_mevis.py)')
    parser.add_argument('--quiet', action='store_true', help='print only the summary')
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    step = max(1, args.num_videos // 10)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done % step == 0 or done == total):
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f'[{done}/{total}] videos ({rate:.1f} videos/s)', flush=True)

    try:
        summary = make_synthetic_sav(
            args.out, args.num_videos, num_frames=args.num_frames, seed=args.seed,
            image_size=args.image_size, stride=args.stride, layout=args.layout,
            progress=progress)
    except ValueError as e:
        parser.error(str(e))
    print(f'wrote {summary["num_videos"]} videos, {summary["num_objects"]} described '
          f'objects of {summary["num_masklets"]} masklets to {args.out} in '
          f'{time.perf_counter() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
