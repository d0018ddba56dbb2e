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

Next to them, what one GPU consumes in training at real size (DeSa2VA / Sa2VA 1B:
InternViT-300M on 448 tiles, Qwen2.5-0.5B, SAM-2 hiera-L at 1024 px), and how many
workers one GPU needs so that the pipeline never starves it. No real-size step was timed
on a GPU, so the rate is derived from FLOPs: the training FLOPs of one sample, from the
tiles, tokens, frames and masks of the samples just built (:func:`train_flops`), over
``--gpu-tflops`` (default 989, an H100 SXM's dense bf16 peak) times ``--mfu`` (default
0.4, a well-tuned large-model training run; a lower utilisation means a slower model and
fewer workers).
"""
import argparse
import json
import math
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
    parser.add_argument('--gpu-tflops', type=float, default=989.0,
                        help='GPU peak TFLOP/s for the model rate (default: H100 SXM, '
                             'dense bf16)')
    parser.add_argument('--mfu', type=float, default=0.4,
                        help='model FLOPs utilisation assumed for the model rate')
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
    """Run ``dataset[i]`` transform by transform.

    Returns:
        ``(samples/s, {transform: ms}, shape)``: ``shape`` the mean tiles, tokens, SAM-2
        frames and masks per sample (what :func:`train_flops` reads).
    """
    per_transform = defaultdict(float)
    shapes = defaultdict(float)
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
        for key, value in sample_shape(results).items():
            shapes[key] += value / num_samples
    total = time.perf_counter() - start
    return (num_samples / total, {k: 1000 * v / num_samples for k, v in per_transform.items()},
            dict(shapes))


def sample_shape(packed: dict) -> dict:
    """Tiles, tokens, SAM-2 frames and masks of one packed sample."""
    sample = packed['data_samples']
    ids = sample.input_ids
    tokens = int(sum(len(x) for x in ids) if isinstance(ids, (list, tuple)) else ids.numel())
    inputs = packed['inputs']
    frames = int(inputs.shape[0]) if getattr(inputs, 'ndim', 0) == 4 else 1
    masks = len(sample.gt_instances) if 'gt_instances' in sample else 0
    return dict(tiles=int(sample.pixel_values.shape[0]), tokens=tokens, frames=frames,
                masks=masks)


#: Forward FLOPs of the real-size parts (multiply-adds x 2), from their published shapes.
#: InternViT-300M on one 448 tile: 24 layers, width 1024, MLP 4096, 1025 tokens.
VIT_TILE_FLOPS = 24 * (2 * 1025 * (4 * 1024**2 + 2 * 1024 * 4096) + 4 * 1025**2 * 1024)
#: Qwen2.5-0.5B per token: 24 layers of q / o (896^2), k / v (896 x 128), MLP 3 x 896 x
#: 4864, and the 151,674-word LM head.
LLM_TOKEN_FLOPS = 2 * (24 * (2 * 896**2 + 2 * 896 * 128 + 3 * 896 * 4864) + 896 * 151674)
#: Per pair of tokens (causal attention: scores and values, 24 layers, width 896).
LLM_PAIR_FLOPS = 2 * 24 * 896
#: SAM-2 hiera-L at 1024 px: the trunk's linear layers ([2, 6, 36, 4] blocks at widths
#: 144-1152 on 256^2 ... 32^2 tokens), its 3 global-attention blocks and the FPN neck.
SAM2_FRAME_FLOPS = int(
    sum(24 * b * n * d**2 for b, n, d in ((2, 256**2, 144), (6, 128**2, 288),
                                         (36, 64**2, 576), (4, 32**2, 1152)))
    + 3 * 4 * (64**2)**2 * 576 + 9e9)
#: One SAM-2 mask decode at a 64 x 64 embedding (two-way transformer + upscaling).
DECODE_FLOPS = 5e9


def train_flops(shape: dict, mask_decoders: int = 3) -> float:
    """Training FLOPs of one sample: the frozen vision tower and SAM-2 encoder forward
    only; the LoRA-tuned LLM forward + backward to its activations (2x forward: the
    frozen base weights get no gradients); every mask decode forward + backward (3x)
    in each of ``mask_decoders`` decoder passes (DeSa2VA: text and visual heads +
    fusion)."""
    tokens = shape['tokens']
    llm = 2 * (LLM_TOKEN_FLOPS * tokens + LLM_PAIR_FLOPS * tokens**2)
    decodes = 3 * DECODE_FLOPS * mask_decoders * max(1.0, shape['masks'])
    return VIT_TILE_FLOPS * shape['tiles'] + llm + SAM2_FRAME_FLOPS * shape['frames'] + decodes


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
    for name, rate, _, _ in results:
        print(f'{name:36s} {rate:10.2f} {1000 / rate:10.1f}')
    print(f'\nmodel consumption per GPU (derived: training FLOPs / ({args.gpu_tflops:g} '
          f'TFLOP/s x MFU {args.mfu:g}); no GPU measurement) and workers per GPU:')
    print(f'{"pipeline":36s} {"tiles":>6s} {"tokens":>7s} {"frames":>7s} {"masks":>6s} '
          f'{"TFLOP":>7s} {"GPU samples/s":>14s} {"worker samples/s":>17s} '
          f'{"workers/GPU":>12s}')
    for name, rate, _, shape in results:
        if 'test' in name:
            continue  # training consumption only
        flops = train_flops(shape)
        gpu_rate = args.gpu_tflops * 1e12 * args.mfu / flops
        print(f"{name:36s} {shape['tiles']:6.1f} {shape['tokens']:7.0f} "
              f"{shape['frames']:7.1f} {shape['masks']:6.1f} {flops / 1e12:7.1f} "
              f"{gpu_rate:14.2f} {rate:17.2f} {math.ceil(gpu_rate / rate):12d}")
    print('\nms per transform:')
    names = sorted({k for _, _, steps, _ in results for k in steps})
    print(f'{"transform":28s}' + ''.join(f'{n.split(" (")[0]:>14s}' for n, _, _, _ in results))
    for step in names:
        print(f'{step:28s}' + ''.join(
            f'{steps[step]:14.1f}' if step in steps else f'{"-":>14s}'
            for _, _, steps, _ in results))
    base_rate = results[0][1]
    print('\nratios (samples/s relative to image train):')
    for name, rate, _, _ in results[1:]:
        print(f'  {name}: {rate / base_rate:.2f}')
    tiling = results[0][2].get('InternVLTiling', 0.0)
    print(f'  InternVL tiling share of image train: {tiling * base_rate / 1000:.2f}')
    compare_normalisation(args.num_samples)
    print('command: python tools/analysis_tools/benchmark_data.py ' + ' '.join(sys.argv[1:]))


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
