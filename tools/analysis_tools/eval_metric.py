# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3's tools/analysis_tools/eval_metric.py for desa2va_mm's predictions.
"""Score the predictions a test run dumped (``tools/test.py ... --out preds.pkl``) again,
with any config's evaluator, without running the model.

    python tools/analysis_tools/eval_metric.py CONFIG preds.pkl [--cfg-options ...]
    # e.g. another metric setting on the same predictions:
    python tools/analysis_tools/eval_metric.py configs/sa2va/sa2va_tiny.py preds.pkl \
        --cfg-options "test_evaluator.metric=[cIoU,gIoU,mIoU]" test_evaluator.empty_split_ciou=100.0

What ``--out`` holds (mmdet's ``DumpDetResults``, one dict per test sample):

* image samples: ``pred_instances.masks`` as COCO RLEs (decoded back to (N, H, W) bool
  tensors here), ``pred_instances.scores``, and the metainfo of the test pipeline, which for
  referring segmentation includes the ground truth ``gt_masks`` (N, H, W);
* video samples: the video prediction contract in the metainfo (``video_id``, ``exp_ids``,
  ``frame_names``, ``pred_rles`` and ``gt_rles``, E lists of T RLEs), scored as they are.

Like mmdet's tool, the config's test dataset is built for its ``metainfo`` (what
``MultiDatasetsEvaluator`` needs to split a multi-split run by dataset); its length must be
the number of dumped samples. The config's ``test_evaluator`` scores them
(``--evaluator val`` takes ``val_evaluator``).
"""
import argparse
import os.path as osp
import pickle
import sys
import time
from typing import Dict, List

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Evaluate the predictions of tools/test.py --out (a pickle) with a '
        "config's evaluator")
    parser.add_argument('config', help='config whose evaluator and test dataset to use')
    parser.add_argument('pkl_results', help='predictions in pickle format (tools/test.py --out)')
    parser.add_argument('--evaluator', choices=['test', 'val'], default='test',
                        help='use the config\'s test_evaluator (default) or val_evaluator')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy pairs (key="[a,b]" for lists)')
    parser.add_argument(
        '--allow-new-keys', action='store_true',
        help='let --cfg-options add keys the config does not have (no typo check)')
    return parser, parser.parse_args(argv)


def decode_image_predictions(sample: dict, where: str) -> dict:
    """Turn a dumped image sample's RLE masks back into the (N, H, W) bool tensor the image
    metrics read; video samples (no ``pred_instances``) are returned unchanged.

    Args:
        sample: One dict of the ``--out`` pickle.
        where: The sample's name for error messages.

    Returns:
        The same dict, ``pred_instances['masks']`` a (N, H, W) bool tensor.
    """
    import numpy as np
    import torch

    from desa2va_mm.structures.rle import decode_rle
    pred = sample.get('pred_instances')
    if not isinstance(pred, dict) or 'masks' not in pred:
        return sample
    masks = pred['masks']
    if isinstance(masks, torch.Tensor):
        return sample
    if not isinstance(masks, (list, tuple)) or not all(
            isinstance(m, dict) and 'counts' in m and 'size' in m for m in masks):
        raise ValueError(f'{where}: pred_instances.masks is neither a tensor nor a list of '
                         f'COCO RLEs (got {type(masks).__name__}); is this a tools/test.py '
                         '--out pickle?')
    if masks:
        decoded = np.stack([decode_rle(m) for m in masks]).astype(bool)
    else:
        height, width = sample.get('ori_shape', (0, 0))[:2]
        decoded = np.zeros((0, height, width), bool)
    pred['masks'] = torch.from_numpy(decoded)
    return sample


def load_predictions(path: str) -> List[dict]:
    """Read a ``--out`` pickle; a file that is missing or not a list of dicts is named."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such predictions file (write one with '
                                'tools/test.py CONFIG CHECKPOINT --out preds.pkl)')
    with open(path, 'rb') as f:
        predictions = pickle.load(f)
    if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
        raise ValueError(f'{path}: expected a list of per-sample dicts (tools/test.py --out), '
                         f'got {type(predictions).__name__}')
    if not predictions:
        raise ValueError(f'{path}: holds no predictions')
    return predictions


def sample_name(sample: dict, index: int) -> str:
    name = sample.get('video_id', sample.get('img_path', None))
    return f'sample {index} ({name})' if name is not None else f'sample {index}'


def build_evaluator(evaluator_cfg):
    """The config's evaluator, built the way ``Runner.build_evaluator`` builds it."""
    from mmengine.evaluator import Evaluator

    from desa2va_mm.registry import EVALUATOR
    if isinstance(evaluator_cfg, dict) and 'metrics' in evaluator_cfg:
        evaluator_cfg = dict(evaluator_cfg)
        evaluator_cfg.setdefault('type', 'Evaluator')
        return EVALUATOR.build(evaluator_cfg)
    return Evaluator(evaluator_cfg)


def main(argv=None) -> Dict[str, float]:
    """Score ``pkl_results`` with the config's evaluator; returns (and prints) the metrics."""
    parser, args = parse_args(argv)
    from tools.cli_utils import load_config, merge_cfg_options
    cfg, args.config = load_config(parser, args.config)
    merge_cfg_options(parser, cfg, args)
    key = f'{args.evaluator}_evaluator'
    if not cfg.get(key):
        parser.error(f'{args.config} has no `{key}` to score with (set it, or pick the other '
                     'with --evaluator)')
    try:
        predictions = load_predictions(args.pkl_results)
    except (OSError, ValueError, pickle.UnpicklingError) as err:
        parser.error(str(err))

    from mmengine.registry import init_default_scope
    from mmengine.utils import ProgressBar

    from desa2va_mm.registry import DATASETS
    from desa2va_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'desa2va_mm'))

    loader_key = 'test_dataloader' if args.evaluator == 'test' else 'val_dataloader'
    dataset = DATASETS.build(cfg[loader_key].dataset)
    if len(dataset) != len(predictions):
        parser.error(f'{args.pkl_results} holds {len(predictions)} samples but the '
                     f'`{loader_key}.dataset` of {args.config} has {len(dataset)}: score with '
                     'the config (and data root, split) the predictions were made with, e.g. '
                     f'--cfg-options {loader_key}.dataset.data_root=...')
    evaluator = build_evaluator(cfg[key])
    evaluator.dataset_meta = dataset.metainfo
    metric_names = ', '.join(type(m).__name__ for m in evaluator.metrics)
    print(f'scoring {len(predictions)} samples of {args.pkl_results} with {metric_names}')

    start = time.time()
    progress = ProgressBar(len(predictions), file=sys.stdout)
    for index, sample in enumerate(predictions):
        where = f'{args.pkl_results}, {sample_name(sample, index)}'
        try:
            evaluator.process([decode_image_predictions(sample, where)])
        except (KeyError, ValueError, AttributeError, TypeError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            kind = 'a video' if 'pred_rles' in sample else 'an image'
            parser.exit(1, f'\neval_metric.py: error: {where}: {metric_names} cannot score '
                        f'it ({type(err).__name__}: {message}). It holds {kind} prediction; '
                        'use a config whose evaluator scores that kind (the one the '
                        'predictions were made with).\n')
        progress.update()
    metrics = evaluator.evaluate(len(predictions))
    print(f'\nscored in {time.time() - start:.1f} s')
    for name, value in metrics.items():
        print(f'{name}: {value:.4f}' if isinstance(value, float) else f'{name}: {value}')
    return metrics


if __name__ == '__main__':
    main()
