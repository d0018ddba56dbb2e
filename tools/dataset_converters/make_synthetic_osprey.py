"""Write synthetic region-prompt sets in Osprey-724K's layout (docs/visual_prompts.md).

Example::

    python tools/dataset_converters/make_synthetic_osprey.py --out data/synthetic_osprey \
        --num-images 400 --seed 0

The result loads with ``OspreyDataset(data_root=OUT,
ann_file='Osprey-724K/osprey_conversation.json', data_prefix=dict(img_path='images/'))``
(and the short-form, detailed-description and segment-like files); the tiny region-prompt
config ``configs/sa2va/sa2va_tiny_vp.py`` trains on them.
"""
import argparse
import os.path as osp
import sys
import time

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# A light package (NumPy, OpenCV, pycocotools): no torch or mmdet import.
from desa2va_mm.synthetic.osprey_writer import make_synthetic_osprey  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write synthetic region-prompt sets (1-3 object regions per image, '
        'questions about them, "segment the object like region1") in the Osprey-724K '
        'layout.')
    parser.add_argument('--out', required=True, help='output root')
    parser.add_argument('--num-images', type=int, default=400, help='pictures in all')
    parser.add_argument('--seed', type=int, default=0, help='seed (same pictures as the '
                        'synthetic RefCOCO of that seed)')
    parser.add_argument('--image-size', type=int, default=128, help='square image side')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='share of pictures held out (osprey_conversation_val.json)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    print(f'writing {args.num_images} images to {args.out} ...', flush=True)
    try:
        counts = make_synthetic_osprey(args.out, args.num_images, args.seed,
                                       args.image_size, args.val_fraction)
    except ValueError as e:
        sys.exit(f'make_synthetic_osprey.py: {e}')
    listed = ', '.join(f'{n} {kind}' for kind, n in counts.items())
    print(f'done in {time.time() - start:.1f} s: records {listed}', flush=True)


if __name__ == '__main__':
    main()
