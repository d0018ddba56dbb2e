"""Write desa2va's synthetic shapes as a semantic-segmentation set in mmseg's layout.

    python projects/sam2_refine_mmseg/tools/make_synthetic_seg.py \
        --out data/synthetic_seg [--num-train 200] [--num-val 50] [--seed 0]

Writes ``OUT/img_dir/{train,val}/*.png`` (BGR images) and ``OUT/ann_dir/{train,val}/*.png``
(uint8 class per pixel: 0 background, 1-5 circle, square, triangle, star, hexagon), what
the configs in projects/sam2_refine_mmseg/configs read (``data_root``).
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Synthetic shapes as an mmseg semantic-segmentation set '
        '(img_dir / ann_dir PNGs)')
    parser.add_argument('--out', default='data/synthetic_seg', help='dataset root')
    parser.add_argument('--num-train', type=int, default=200, help='train images')
    parser.add_argument('--num-val', type=int, default=50, help='val images')
    parser.add_argument('--seed', type=int, default=0, help='generator seed')
    parser.add_argument('--image-size', type=int, default=128, help='image side in pixels')
    args = parser.parse_args(argv)
    if args.num_train < 1 or args.num_val < 1:
        parser.error('--num-train and --num-val must be >= 1')
    if args.image_size < 32:
        parser.error('--image-size must be >= 32')
    return args


def main(argv=None):
    args = parse_args(argv)
    from projects.sam2_refine_mmseg.sam2_refine_mmseg.synthetic_seg import make_synthetic_seg

    def progress(split, done, total):
        if done == total or done % 50 == 0:
            print(f'[make_synthetic_seg] {split}: {done}/{total}', flush=True)

    counts = make_synthetic_seg(args.out, num_train=args.num_train, num_val=args.num_val,
                                seed=args.seed, image_size=args.image_size,
                                progress=progress)
    print(f'[make_synthetic_seg] wrote {counts} to {args.out}')


if __name__ == '__main__':
    main()
