"""Write a synthetic referring video dataset in the MeViS layout (moving shapes).

Example::

    python tools/dataset_converters/make_synthetic_mevis.py \
        --out data/synthetic_mevis --num-videos 200 --num-frames 12 --seed 0

Each split loads with ``MeViSDataset(data_root=OUT/<split>/)`` (``train`` and
``valid_u``, both with masks): ``JPEGImages/<video>/<frame>.jpg``,
``meta_expressions.json``, ``mask_dict.json`` (COCO RLE per frame, null when the object is
out of view). See ``configs/_base_/datasets/synthetic_mevis_tiny.py``.
"""
import argparse
import os.path as osp
import sys
import time

# Works from a fresh clone: make ``import desa2va_mm`` find this checkout.
REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# A light package (NumPy, OpenCV, pycocotools): no torch or mmdet import.
from desa2va_mm.synthetic import make_synthetic_mevis  # noqa: E402

DEFAULT_SPLITS = ('train=0.8', 'valid_u=0.2')


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


def split_fraction(text: str) -> tuple:
    """argparse type: ``NAME=FRACTION``."""
    name, sep, frac = text.partition('=')
    try:
        value = float(frac)
    except ValueError:
        value = None
    if not sep or not name or value is None or not value > 0:
        raise argparse.ArgumentTypeError(
            f'expected NAME=FRACTION with FRACTION > 0, got {text!r}')
    return name, value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        description='Generate a synthetic MeViS-format referring video segmentation '
        'dataset: moving shapes with motion expressions ("the circle moving left", '
        '"the square that stops"), static attribute expressions and multi-object ones.')
    parser.add_argument('--out', required=True, help='output directory (created if missing)')
    parser.add_argument('--num-videos', type=int_at_least(1), required=True,
                        help='number of videos over all splits')
    parser.add_argument('--num-frames', type=int_at_least(2), default=12,
                        help='frames per video (default 12)')
    parser.add_argument('--seed', type=int_at_least(0), default=0,
                        help='dataset seed; same arguments -> identical files')
    parser.add_argument('--image-size', type=int_at_least(64), default=128,
                        help='side of the square frames in pixels (default 128)')
    parser.add_argument('--splits', type=split_fraction, nargs='+',
                        default=[split_fraction(s) for s in DEFAULT_SPLITS],
                        metavar='NAME=FRACTION',
                        help='split fractions, normalised (default: '
                        + ' '.join(DEFAULT_SPLITS) + ')')
    parser.add_argument('--jpeg-quality', type=int_at_least(1), default=95,
                        help='JPEG quality (1-100)')
    parser.add_argument('--layout', choices=('default', 'motion_pairs'), default='default',
                        help='default: 3-5 objects with every motion kind; motion_pairs: two '
                        'objects alike in colour and shape that move differently, described '
                        'by motion, and a third described once by appearance and once by '
                        'motion (static semantics vs dynamics)')
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
        summary = make_synthetic_mevis(
            args.out, args.num_videos, num_frames=args.num_frames, seed=args.seed,
            image_size=args.image_size, splits=args.splits, jpeg_quality=args.jpeg_quality,
            progress=progress, layout=args.layout)
    except (ValueError, NotADirectoryError) as e:
        parser.error(str(e))
    elapsed = time.perf_counter() - start
    print(f'wrote {summary["num_videos"]} videos x {summary["num_frames"]} frames, '
          f'{summary["num_expressions"]} expressions ({summary["num_multi_object"]} '
          f'multi-object) to {args.out} in {elapsed:.1f} s')
    print(f'expressions with motion: {100 * summary["motion_fraction"]:.0f}%, needing motion '
          f'to be unambiguous: {100 * summary["needs_motion_fraction"]:.0f}%; empty (null) '
          f'object frames: {100 * summary["empty_frame_fraction"]:.0f}%')
    print('objects per motion: ' + ', '.join(f'{k}:{v}' for k, v in summary['motions'].items()))
    for name, counts in summary['splits'].items():
        print(f'{name:<10}{counts["videos"]:>6} videos{counts["expressions"]:>7} expressions')
    return 0


if __name__ == '__main__':
    sys.exit(main())
