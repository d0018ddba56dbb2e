"""Data-pipeline throughput at real resolution: RefCOCO-style images and 5-frame videos.

Runs the real-size pipelines of ``configs/_base_/datasets/image_pipelines.py`` (InternVL
dynamic tiling, 1-12 tiles of 448 + thumbnail; SAM-2 resize to 1024; Sa2VA prompts;
tokenisation with the InternVL2.5-1B tokenizer stand-in) and, when present,
``video_pipelines.py`` (5 sampled frames, one 448 tile each, 1024 SAM-2 frames), in one
process, one sample at a time, on synthetic data written at COCO-like sizes
(640 x 480 images, 480 x 480 frames). Prints samples/s, the time of each transform and
the ratios side by side::

    python tools/analysis_tools/benchmark_data.py [--num-samples 40] [--work-dir DIR]

The numbers are per CPU core (no DataLoader workers): multiply by ``num_workers`` for an
estimate of a loader's throughput.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time
from collections import defaultdict

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Samples/s of the real-resolution image and video data pipelines')
    parser.add_argument('--num-samples', type=int, default=40,
                        help='samples timed per pipeline (after 2 warm-up samples)')
    parser.add_argument('--work-dir', default=None,
                        help='where the synthetic data is written (default: a temp dir)')
    parser.add_argument('--no-video', action='store_true', help='skip the video pipeline')
    args = parser.parse_args()
    if args.num_samples < 1:
        parser.error('--num-samples must be >= 1')
    return args


def write_coco_like_refcoco(root: str, num_images: int) -> None:
    """Synthetic RefCOCO at 480 px, padded on the right to 640 x 480 (COCO's usual size, 13
    InternVL tiles), masks re-encoded at the new size."""
    import cv2
    import numpy as np

    from desa2va_mm.structures import decode_rle, encode_mask
    from desa2va_mm.synthetic import make_synthetic_refcoco
    make_synthetic_refcoco(root, num_images=num_images, seed=0, image_size=480,
                           split_fractions=(('train', 0.5), ('val', 0.5)))
    ann_path = osp.join(root, 'refcoco', 'instances.json')
    instances = json.load(open(ann_path))
    for image in instances['images']:
        path = osp.join(root, 'train2014', image['file_name'])
        img = cv2.imread(path)
        cv2.imwrite(path, cv2.copyMakeBorder(img, 0, 0, 0, 160, cv2.BORDER_REPLICATE))
        image['width'] = 640
    for ann in instances['annotations']:
        segm = ann['segmentation']
        if isinstance(segm, dict):  # RLE at 480 x 480: pad to 480 x 640
            mask = np.pad(decode_rle(segm), ((0, 0), (0, 160)))
            ann['segmentation'] = encode_mask(mask)
    json.dump(instances, open(ann_path, 'w'))


def time_pipeline(dataset, num_samples: int):
    """Run ``dataset[i]`` transform by transform; returns (samples/s, {transform: ms})."""
    per_transform = defaultdict(float)
    transforms = dataset.pipeline.transforms
    n = len(dataset)
    for i in range(2):  # warm-up: tokenizer build, first file reads
        dataset[i % n]
    start = time.perf_counter()
    for i in range(num_samples):
        results = dataset.get_data_info(i % n)
        for t in transforms:
            t0 = time.perf_counter()
            results = t(results)
            per_transform[type(t).__name__] += time.perf_counter() - t0
    total = time.perf_counter() - start
    return num_samples / total, {k: 1000 * v / num_samples for k, v in per_transform.items()}


def main():
    args = parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    work = args.work_dir or tempfile.mkdtemp(prefix='benchmark_data_')
    base = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets')
    images = Config.fromfile(osp.join(base, 'image_pipelines.py'))

    print(f'writing synthetic data under {work} ...', flush=True)
    image_root = osp.join(work, 'refcoco')
    write_coco_like_refcoco(image_root, num_images=max(8, min(args.num_samples, 40)))
    common = dict(type='RefCocoReferringDataset', data_root=image_root,
                  ann_file='refcoco/instances.json', split_file='refcoco/refs(unc).p',
                  data_prefix=dict(img_path='train2014/'))
    runs = [('image train (640x480: 13 tiles)', DATASETS.build(
        dict(common, split='train', pipeline=images.train_pipeline))),
            ('image test (every sentence)', DATASETS.build(
                dict(common, split='val', test_mode=True, pipeline=images.test_pipeline)))]

    video_cfg = osp.join(base, 'video_pipelines.py')
    if not args.no_video and osp.isfile(video_cfg):
        from desa2va_mm.synthetic import make_synthetic_mevis
        videos = Config.fromfile(video_cfg)
        video_root = osp.join(work, 'mevis')
        make_synthetic_mevis(video_root, num_videos=8, num_frames=12, seed=0, image_size=480)
        runs.append(('video train (5 frames, 480x480)', DATASETS.build(dict(
            type='MeViSDataset', data_root=osp.join(video_root, 'train') + '/',
            pipeline=videos.video_train_pipeline))))

    # The pipelines take the model's tokenizer (ModelTokenizerHook in a runner): here the one
    # InternVL2.5-1B's model builds without weights (same vocabulary size and template).
    from desa2va_mm.engine.hooks.model_tokenizer_hook import share_with_dataset
    from desa2va_mm.registry import TOKENIZERS
    tokenizer = TOKENIZERS.build(dict(type='InternVLTokenizer', path=None,
                                      stand_in_vocab_size=151674))
    for name, dataset in runs:
        share_with_dataset(dataset, tokenizer, 'qwen2', name)

    results = []
    for name, dataset in runs:
        print(f'timing {name} ...', flush=True)
        results.append((name, *time_pipeline(dataset, args.num_samples)))

    print(f'\nthreads={os.environ.get("OMP_NUM_THREADS")} samples per pipeline='
          f'{args.num_samples} (one process)')
    print(f'{"pipeline":36s} {"samples/s":>10s} {"ms/sample":>10s}')
    for name, rate, _ in results:
        print(f'{name:36s} {rate:10.2f} {1000 / rate:10.1f}')
    print('\nms per transform:')
    names = sorted({k for _, _, steps in results for k in steps})
    print(f'{"transform":28s}' + ''.join(f'{n.split(" (")[0]:>14s}' for n, _, _ in results))
    for step in names:
        print(f'{step:28s}' + ''.join(
            f'{steps[step]:14.1f}' if step in steps else f'{"-":>14s}'
            for _, _, steps in results))
    base_rate = results[0][1]
    print('\nratios (samples/s relative to image train):')
    for name, rate, _ in results[1:]:
        print(f'  {name}: {rate / base_rate:.2f}')
    tiling = results[0][2].get('InternVLTiling', 0.0)
    print(f'  InternVL tiling share of image train: {tiling * base_rate / 1000:.2f}')
    compare_normalisation(args.num_samples)


def compare_normalisation(repeats: int) -> None:
    """Tile normalisation of one 640 x 480 image (13 tiles): the straightforward float32
    arithmetic on (T, s, s, 3) + permute to (T, 3, s, s) vs the lookup table that
    ``InternVLTiling`` uses (bit-identical output)."""
    import numpy as np
    import torch
    from PIL import Image

    from desa2va_mm.datasets.transforms.internvl_tiling import (IMAGENET_MEAN, IMAGENET_STD,
                                                                dynamic_tiles,
                                                                normalize_tiles)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    tiles = dynamic_tiles(image, 1, 12, 448, True)
    mean = np.asarray(IMAGENET_MEAN, np.float32).reshape(1, 1, 3)
    std = np.asarray(IMAGENET_STD, np.float32).reshape(1, 1, 3)

    def arithmetic():
        arrays = np.stack([(np.asarray(t, np.float32) / 255.0 - mean) / std for t in tiles])
        return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()

    def table():
        return normalize_tiles(tiles, IMAGENET_MEAN, IMAGENET_STD)

    assert torch.equal(arithmetic(), table())
    times = {}
    for name, fn in (('float arithmetic + permute', arithmetic), ('lookup table', table)):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        times[name] = 1000 * (time.perf_counter() - start) / repeats
    print(f'\ntile normalisation, 13 tiles of 448 (bit-identical outputs, {repeats} runs):')
    for name, ms in times.items():
        print(f'  {name:28s} {ms:8.1f} ms')
    print(f'  speed-up: {times["float arithmetic + permute"] / times["lookup table"]:.2f}x')


if __name__ == '__main__':
    main()
