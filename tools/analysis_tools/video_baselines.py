"""Score trivial referring *video* baselines with the config's own video metric.

Baselines, per expression: ``empty`` (an empty mask on every frame) and ``first-frame GT
copy`` (the ground-truth mask of frame 0 repeated on every frame: an oracle start without
tracking). With ``--model-metrics`` the model's own no-tracking baseline is printed too when
the test run had ``VideoJFMetric(report_first_frame_copy=True)``: its first-frame
*prediction* copied to every frame.

    python tools/analysis_tools/video_baselines.py configs/desa2va_video/desa2va_tiny_video.py \
        [--model-metrics WORK_DIR_OR_JSON] [--cfg-options key=value ...]

The test split must have ground truth (``gt_rles``; e.g. MeViS ``valid_u``). With
``--model-metrics`` the model's figures (a ``tools/test.py`` log JSON, or the newest under a
work dir) are printed beside the baselines.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config whose test dataset and metric are used')
    parser.add_argument('--model-metrics', default=None,
                        help='tools/test.py log JSON (or a work dir holding one) to compare')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides')
    return parser.parse_args()


def empty_rle(height: int, width: int) -> dict:
    import numpy as np

    from desa2va_mm.structures import encode_mask
    return encode_mask(np.zeros((height, width), dtype=bool))


def baseline_predictions(sample: dict) -> dict:
    """``{'empty': pred_rles, 'first-frame GT copy': pred_rles}`` for one test sample."""
    height, width = sample['ori_shape'][:2]
    empty = empty_rle(height, width)
    num_frames = len(sample['frame_names'])
    preds = {'empty': [[dict(empty) for _ in range(num_frames)] for _ in sample['gt_rles']]}
    preds['first-frame GT copy'] = [
        [dict(rles[0] if rles[0] is not None else empty) for _ in range(num_frames)]
        for rles in sample['gt_rles']]
    return preds


def main():
    args = parse_args()
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS, METRICS
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(dict(kv.split('=', 1) for kv in args.cfg_options))  # strings
    init_default_scope('desa2va_mm')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    evaluator_cfg = cfg.test_evaluator
    if isinstance(evaluator_cfg, (list, tuple)):
        evaluator_cfg = evaluator_cfg[0]
    metrics = {}
    for i in range(len(dataset)):
        packed = dataset[i]
        meta = packed['data_samples'].metainfo
        if meta.get('gt_rles') is None:
            sys.exit(f"{args.config}: the test split has no ground truth (gt_rles); use a split "
                     f"with masks such as MeViS valid_u")
        for name, pred_rles in baseline_predictions(meta).items():
            if name not in metrics:
                metrics[name] = METRICS.build(dict(evaluator_cfg))
            metrics[name].process({}, [dict(meta, pred_rles=pred_rles)])
        print(f'\r{i + 1}/{len(dataset)} videos', end='', flush=True, file=sys.stderr)
    print(file=sys.stderr)
    results = {name: m.compute_metrics(m.results) for name, m in metrics.items()}
    model = None
    if args.model_metrics:
        from trivial_baselines import find_model_metrics
        model = find_model_metrics(args.model_metrics)
    keys = ['J', 'F', 'J&F']
    rows = {name: r for name, r in results.items()}
    if model and all(f'first_frame_copy/{k}' in model for k in keys):
        rows["model's frame 0 copied"] = {k: float(model[f'first_frame_copy/{k}'])
                                          for k in keys}
    if model:
        rows['model'] = {k: float(model[k]) for k in keys if k in model}
    print(f"{'method':<24}" + ''.join(f'{k:>10}' for k in keys))
    for name, r in rows.items():
        print(f'{name:<24}' + ''.join(f'{r.get(k, float("nan")):>10.2f}' for k in keys))


if __name__ == '__main__':
    main()
