"""Write a synthetic grounded-caption (GCG) dataset in GLaMM's GranD-f layout.

Example::

    python tools/dataset_converters/make_synthetic_gcg.py --out data/synthetic_gcg \
        --num-images 400 --seed 0

The result loads with ``GranDfGCGDataset(data_root=OUT,
ann_file='annotations/GranDf_HA_GCG_train.json', data_prefix=dict(img_path='images/'))``
and ``GranDfGCGEvalDataset`` (val split); see docs/gcg.md.
"""
import argparse
import os.path as osp
import sys
import time

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# A light package (NumPy, OpenCV, pycocotools): no torch or mmdet import.
from desa2va_mm.synthetic import make_synthetic_gcg  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write synthetic grounded captions (2-3 phrases per image, each with '
        'its mask) in the GranD-f GCG layout.')
    parser.add_argument('--out', required=True, help='output root')
    parser.add_argument('--num-images', type=int, default=400, help='images in all')
    parser.add_argument('--seed', type=int, default=0, help='seed (same pictures as the '
                        'synthetic RefCOCO of that seed)')
    parser.add_argument('--image-size', type=int, default=128, help='square image side')
    parser.add_argument('--val-fraction', type=float, default=0.25,
                        help='share of images in the val split')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    print(f'writing {args.num_images} images to {args.out} ...', flush=True)
    try:
        counts = make_synthetic_gcg(args.out, args.num_images, args.seed, args.image_size,
                                    args.val_fraction)
    except ValueError as e:
        sys.exit(f'make_synthetic_gcg.py: {e}')
    print(f"done in {time.time() - start:.1f} s: {counts['train']} train, {counts['val']} "
          f'val images', flush=True)


if __name__ == '__main__':
    main()
