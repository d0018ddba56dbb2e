"""Write a synthetic referring-segmentation dataset in the RefCOCO layout.

Example::

    python tools/dataset_converters/make_synthetic_refcoco.py \
        --out data/synthetic_refcoco --num-images 2000 --seed 0

The result loads with mmdet's ``RefCocoDataset(data_root=OUT,
ann_file='refcoco/instances.json', split_file='refcoco/refs(unc).p',
data_prefix=dict(img_path='train2014/'), split=...)``.
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
from desa2va_mm.synthetic import (compute_split_stats, make_heldout_refcoco,  # noqa: E402
                                  make_synthetic_refcoco)

DEFAULT_SPLITS = ('train=0.8', 'val=0.1', 'testA=0.05', 'testB=0.05')
HELDOUT_DEFAULT_SPLITS = ('train=0.7', 'val=0.1', 'heldout=0.2')


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}')
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be > 0, got {value}')
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}')
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be >= 0, got {value}')
    return value


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
        description='Generate a synthetic RefCOCO-format referring '
        'segmentation dataset (shapes with attribute, superlative and '
        'spatial-relation expressions).')
    parser.add_argument('--out', required=True,
                        help='output directory (created if missing)')
    parser.add_argument('--num-images', type=positive_int, required=True,
                        help='number of images to generate')
    parser.add_argument('--seed', type=non_negative_int, default=0,
                        help='dataset seed; same seed -> identical files')
    parser.add_argument('--image-size', type=positive_int, default=128,
                        help='side of the square images in pixels (>= 64)')
    parser.add_argument(
        '--splits', type=split_fraction, nargs='+', default=None,
        metavar='NAME=FRACTION',
        help='split fractions, normalised to sum to 1 (default: '
        + ' '.join(DEFAULT_SPLITS) + '; with --heldout: ' + ' '.join(HELDOUT_DEFAULT_SPLITS)
        + ')')
    parser.add_argument(
        '--heldout', nargs='+', default=None, metavar='SPLIT',
        help='held-out splits (e.g. heldout): they keep only sentences with a word or '
        'colour + shape combination of desa2va_mm/synthetic/heldout.py, the other splits '
        'only sentences without one (a generalisation check)')
    parser.add_argument('--jpeg-quality', type=positive_int, default=95,
                        help='JPEG quality (1-100)')
    parser.add_argument('--quiet', action='store_true',
                        help='print only the summary')
    parser.add_argument('--skip-existing', action='store_true',
                        help='do nothing when OUT already holds a complete dataset written '
                        'with the same seed, image size and image count')
    return parser


def _same_dataset_exists(args) -> bool:
    """A finished earlier run with the same parameters (the split file is written last)."""
    import json
    scenes = osp.join(args.out, 'refcoco', 'synthetic_scenes.json')
    split = osp.join(args.out, 'refcoco', 'refs(unc).p')
    if not (osp.isfile(scenes) and osp.isfile(split)):
        return False
    try:
        with open(scenes, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    # A held-out set and a plain one of the same seed share images, not sentences.
    heldout = osp.isfile(osp.join(args.out, 'refcoco', 'heldout.json'))
    return (meta.get('seed') == args.seed and meta.get('image_size') == args.image_size
            and len(meta.get('images', [])) == args.num_images
            and heldout == bool(args.heldout))


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.splits is None:
        defaults = HELDOUT_DEFAULT_SPLITS if args.heldout else DEFAULT_SPLITS
        args.splits = [split_fraction(s) for s in defaults]

    if args.skip_existing and _same_dataset_exists(args):
        print(f'{args.out} already holds this dataset (seed {args.seed}, '
              f'{args.num_images} images of {args.image_size} px); skipping')
        return 0

    step = max(1, args.num_images // 20)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done % step == 0 or done == total):
            rate = done / max(time.perf_counter() - start, 1e-9)
            print(f'[{done}/{total}] images ({rate:.0f} img/s)', flush=True)

    try:
        if args.heldout:
            summary = make_heldout_refcoco(
                args.out, args.num_images, args.seed, image_size=args.image_size,
                split_fractions=args.splits, heldout_splits=args.heldout,
                jpeg_quality=args.jpeg_quality, progress=progress)
        else:
            summary = make_synthetic_refcoco(
                args.out, args.num_images, args.seed, image_size=args.image_size,
                split_fractions=args.splits, jpeg_quality=args.jpeg_quality,
                progress=progress)
    except (ValueError, TypeError, NotADirectoryError, FileExistsError) as e:
        parser.error(str(e))
    elapsed = time.perf_counter() - start

    print(f'wrote {summary["num_images"]} images, '
          f'{summary["num_annotations"]} objects '
          f'({summary["num_rle_annotations"]} occluded, RLE), '
          f'{summary["num_refs"]} refs, {summary["num_sentences"]} sentences '
          f'to {args.out} in {elapsed:.1f} s')
    if args.heldout:
        info = summary['heldout']
        print(f'held out in {", ".join(info["heldout_splits"])}: words '
              f'{", ".join(info["words"])}; combinations {", ".join(info["combinations"])} '
              f'({summary["num_dropped_sentences"]} sentences dropped where they do not '
              'belong)')
    print(f'images with a shared colour or shape: '
          f'{100 * summary["shared_attribute_fraction"]:.0f}%')
    stats = compute_split_stats(args.out)
    print(f'{"split":<8}{"images":>8}{"refs":>8}{"sents":>8}{"words":>7}  kinds')
    for name, _ in args.splits:
        s = stats.get(name)
        if s is None:
            print(f'{name:<8}{0:>8}{0:>8}{0:>8}')
            continue
        kinds = ', '.join(f'{k}:{v}' for k, v in s['kinds'].items())
        print(f'{name:<8}{s["images"]:>8}{s["refs"]:>8}{s["sentences"]:>8}'
              f'{s["mean_words"]:>7.1f}  {kinds}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
