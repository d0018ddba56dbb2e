"""Score trivial referring-segmentation baselines with the config's own metric.

Baselines, per sentence: ``whole image``; ``largest object`` (the largest annotated object
of the image, whatever the sentence says); ``random object`` (a random annotated object,
seeded); ``empty``. They bound what a model that ignores the language can reach.

    python tools/analysis_tools/trivial_baselines.py configs/sa2va/sa2va_tiny.py \
        [--split val] [--model-metrics WORK_DIR_OR_JSON]

With ``--model-metrics`` the model's cIoU / gIoU (from a ``tools/test.py`` log JSON, or
the newest one under a work dir) are printed beside the baselines, with the margin over
the best baseline.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config whose test dataset and metric are used')
    parser.add_argument('--split', default=None, help='dataset split (default: the config\'s)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random-object baseline')
    parser.add_argument('--model-metrics', default=None,
                        help='tools/test.py log JSON (or a work dir holding one) to compare')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides')
    return parser.parse_args()


def find_model_metrics(path: str) -> dict:
    """Read the last metrics line of a test log JSON (or the newest under a folder)."""
    if osp.isdir(path):
        candidates = sorted(glob.glob(osp.join(path, '**', '*.json'), recursive=True),
                            key=os.path.getmtime)
        candidates = [c for c in candidates if osp.basename(c) != 'scalars.json']
        if not candidates:
            raise FileNotFoundError(f'no test log JSON under {path}')
        path = candidates[-1]
    metrics = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith('{'):
                metrics.update(json.loads(line))
    return metrics


def model_scores(path: str, keys) -> dict:
    """``{key: value}`` of a test log JSON (or the newest under a folder), each key matched
    without its metric prefix (``synthetic_gcg/mIoU`` -> ``mIoU``); NaN when absent."""
    model = find_model_metrics(path)
    return {k: next((v for mk, v in model.items() if mk.split('/')[-1] == k), float('nan'))
            for k in keys}


def config_with_options(path: str, cfg_options):
    """The config at ``path`` with ``key=value`` overrides merged, every module registered
    and the config's default scope set."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(path)
    for item in cfg_options:
        key, value = item.split('=', 1)
        cfg.merge_from_dict({key: value})
    init_default_scope(cfg.get('default_scope', 'desa2va_mm'))
    return cfg


def main():
    args = parse_args()
    import torch
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from desa2va_mm.registry import DATASETS, METRICS
    from desa2va_mm.structures import decode_rle, rle_from_polygons

    cfg = config_with_options(args.config, args.cfg_options)
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.pipeline = []
    if args.split:
        ds_cfg.split = args.split
    dataset = DATASETS.build(ds_cfg)
    coco = json.load(open(dataset.ann_file))
    anns_per_image = {}
    for ann in coco['annotations']:
        anns_per_image.setdefault(ann['image_id'], []).append(ann)

    def decode(seg, h, w):
        rle = rle_from_polygons(seg, h, w) if isinstance(seg, list) else seg
        return decode_rle(rle).astype(bool)

    rng = np.random.default_rng(args.seed)
    names = ('whole image', 'largest object', 'random object', 'empty')
    metrics = {n: METRICS.build(cfg.test_evaluator) for n in names}
    num_sentences = 0
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        h, w = info['height'], info['width']
        gts = [decode(o['mask'], h, w) for o in info['instances'] for _ in o['sentences']]
        num_sentences += len(gts)
        all_objs = [decode(a['segmentation'], h, w) for a in anns_per_image[info['img_id']]]
        largest = max(all_objs, key=lambda m: m.sum())
        preds = {
            'whole image': [np.ones((h, w), bool)] * len(gts),
            'largest object': [largest] * len(gts),
            'random object': [all_objs[rng.integers(len(all_objs))] for _ in gts],
            'empty': [np.zeros((h, w), bool)] * len(gts),
        }
        for name in names:
            sample = DetDataSample(metainfo=dict(gt_masks=BitmapMasks(np.stack(gts), h, w),
                                                 img_path=info['img_path']))
            sample.pred_instances = InstanceData(masks=torch.from_numpy(np.stack(preds[name])))
            metrics[name].process({}, [sample.to_dict()])

    rows = [(n, metrics[n].compute_metrics(metrics[n].results)) for n in names]
    print(f'split={dataset.split}  images={len(dataset)}  sentences={num_sentences}')
    keys = ('cIoU', 'gIoU')
    print(f"{'method':<18}" + ''.join(f'{k:>8}' for k in keys))
    for name, m in rows:
        print(f'{name:<18}' + ''.join(f'{m[k]:8.2f}' for k in keys))
    best = max(m['cIoU'] for _, m in rows)
    if args.model_metrics:
        got = model_scores(args.model_metrics, keys)
        print(f"{'model (ours)':<18}" + ''.join(f'{got[k]:8.2f}' for k in keys))
        print(f"margin over the best baseline (cIoU): {got['cIoU'] - best:+.2f} points")


if __name__ == '__main__':
    main()
