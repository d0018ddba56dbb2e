"""Measure I(h_t; h_v) of trained DeSa2VA checkpoints with estimators independent of CLUB.

Runs each checkpoint on held-out samples (the split of the config's ``test_dataloader``;
``--split`` picks another split of the same dataset), collects the decoupled prompts
``(h_t, h_v)`` of every decoded ``[SEG]`` (a forward hook on the ``SegTokenDecoupler``), and
prints per checkpoint (docs/method.md §9):

- ``KSG``: the Kraskov-Stoegbauer-Grassberger k-NN estimate on ``--pca-dim`` principal
  components of each prompt;
- ``Gauss``: the linear-Gaussian estimate ``-1/2 sum log(1 - rho_i^2)`` (canonical
  correlations) on the same components;
- ``KSG-shuf``: KSG after shuffling the pairing, the estimator's floor at this N and
  dimension (about 0);
- ``CLUB``: the model's own CLUB bound on the same rows (when the model has one), for
  comparison only.

Two ways to get the ``[SEG]`` states: ``--mode teacher`` (default) reads them from the
ground-truth answers of the training conversation (the training pipeline on the held-out
split, in eval mode, ``mode='tensor'``): every target gives a row, whatever the model
answers, so short or early checkpoints can be compared on the same rows. ``--mode predict``
runs ``test_step`` as ``tools/test.py`` does and keeps the ``[SEG]`` the model generates.

All in nats. On Gaussians with 8 + 8 dimensions and N = 2000 KSG reads about 55% of the
true value while the Gaussian estimate is unbiased (docs/results.md): compare KSG values
only at the same ``--pca-dim`` and sample count.

Example::

    python tools/analysis_tools/measure_mi.py configs/desa2va/desa2va_tiny_decouple.py \\
        work_dirs/with_club/iter_300.pth work_dirs/no_club/iter_300.pth \\
        --labels club no_club --max-samples 600
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if not sys.path or sys.path[0] != REPO_ROOT:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Estimate I(h_t; h_v) of DeSa2VA checkpoints on held-out samples with '
        'KSG (k-NN) and a linear-Gaussian estimate, independent of CLUB.')
    parser.add_argument('config', help='the DeSa2VA config the checkpoints were trained with')
    parser.add_argument('checkpoints', nargs='+',
                        help="checkpoint files; 'none' measures the config's initial weights")
    parser.add_argument('--labels', nargs='+',
                        help='one name per checkpoint for the table (default: file names)')
    parser.add_argument('--split', help="dataset split to run on instead of the "
                        "test_dataloader's own (e.g. testA)")
    parser.add_argument('--mode', choices=('teacher', 'predict'), default='teacher',
                        help="'teacher': the [SEG] of the ground-truth answers (default); "
                        "'predict': the [SEG] the model generates, as tools/test.py")
    parser.add_argument('--max-samples', type=int, default=1000,
                        help='stop after this many [SEG] rows per checkpoint (default 1000)')
    parser.add_argument('--pca-dim', type=int, default=8,
                        help='principal components kept per prompt (default 8)')
    parser.add_argument('--k', type=int, default=3, help="KSG's neighbour order (default 3)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the shuffles and jitter')
    parser.add_argument('--out', help='also write the figures to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs')
    parser.add_argument('--allow-new-keys', action='store_true',
                        help='let --cfg-options add keys the config does not have')
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.checkpoints):
        parser.error(f'--labels needs one name per checkpoint: got {len(args.labels)} for '
                     f'{len(args.checkpoints)} checkpoints')
    for path in args.checkpoints:
        if path != 'none' and not osp.isfile(path):
            parser.error(f"checkpoint file not found: {path!r} ('none' measures the "
                         "config's initial weights)")
    if args.max_samples < max(args.k + 1, 3):
        parser.error(f'--max-samples must be at least {max(args.k + 1, 3)}')
    if args.pca_dim < 1:
        parser.error('--pca-dim must be >= 1')
    return parser, args


def collect_prompts(model, loader, max_samples: int, mode: str = 'teacher',
                    log_every: int = 10):
    """Run the model over ``loader`` and collect the decoupler's outputs.

    Args:
        model: A DeSa2VA model with ``seg_head.neck`` (eval mode is set here).
        loader: The held-out dataloader (training conversations for ``'teacher'``).
        max_samples: Stop once this many rows are collected.
        mode: ``'teacher'`` (teacher-forced ``mode='tensor'``) or ``'predict'``
            (``test_step``, generation).
        log_every: Print progress every this many batches.

    Returns:
        ``(h_t, h_v)``, each a (N, C) float64 numpy array, N <= max_samples.
    """
    import numpy as np
    import torch

    rows_t: List[torch.Tensor] = []
    rows_v: List[torch.Tensor] = []

    def hook(_module, _inputs, output):
        rows_t.append(output[0].detach().float().cpu())
        rows_v.append(output[1].detach().float().cpu())

    handle = model.seg_head.neck.register_forward_hook(hook)
    model.eval()
    start = time.time()
    try:
        with torch.no_grad():
            for batch_idx, data in enumerate(loader):
                if mode == 'predict':
                    model.test_step(data)
                else:
                    model(**model.data_preprocessor(data, False), mode='tensor')
                collected = sum(len(r) for r in rows_t)
                if (batch_idx + 1) % log_every == 0:
                    print(f'  batch {batch_idx + 1}/{len(loader)}: {collected} [SEG] rows, '
                          f'{time.time() - start:.0f}s', flush=True)
                if collected >= max_samples:
                    break
    finally:
        handle.remove()
    if not rows_t:
        return np.zeros((0, 0)), np.zeros((0, 0))
    h_t = torch.cat(rows_t)[:max_samples].double().numpy()
    h_v = torch.cat(rows_v)[:max_samples].double().numpy()
    return h_t, h_v


def measure(h_t, h_v, pca_dim: int, k: int, seed: int, club=None) -> Dict[str, float]:
    """KSG, Gaussian and shuffled-KSG estimates (+ the model's CLUB bound) of N rows."""
    import numpy as np

    from desa2va_mm.evaluation.functional import (estimate_mutual_information,
                                                  ksg_mutual_information, pca_reduce)
    figures = estimate_mutual_information(h_t, h_v, pca_dim=pca_dim, k=k, seed=seed)
    shuffled = np.random.default_rng(seed).permutation(len(h_v))
    figures['ksg_shuffled'] = ksg_mutual_information(
        pca_reduce(h_t, pca_dim)[0], pca_reduce(h_v[shuffled], pca_dim)[0], k=k, seed=seed)
    if club is not None:
        import torch
        was_training = club.training
        club.eval()
        dtype = next(iter(club.estimator_weights().values())).dtype
        with torch.no_grad():
            figures['club'] = float(club(torch.as_tensor(h_t, dtype=dtype),
                                         torch.as_tensor(h_v, dtype=dtype))['mi_estimate'])
        club.train(was_training)
    return figures


def _build(cfg, mode: str):
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils import register_all_modules
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'desa2va_mm'))
    register_checkpoint_safe_globals()
    model = MODELS.build(cfg.model)
    loader_cfg = cfg.test_dataloader.copy()
    if mode == 'teacher':
        # The training conversation (answers with [SEG]) on the held-out split, in order.
        dataset = cfg.train_dataloader.dataset.copy()
        dataset.update(split=cfg.test_dataloader.dataset.split,
                       data_root=cfg.test_dataloader.dataset.data_root)
        loader_cfg.update(dataset=dataset, collate_fn=cfg.train_dataloader.get(
            'collate_fn', dict(type='pseudo_collate')))
    loader_cfg.update(persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False))
    return model, Runner.build_dataloader(loader_cfg)


def _table(results: Dict[str, Dict[str, float]]) -> str:
    header = (f"{'checkpoint':<24} {'N':>6} {'KSG':>7} {'Gauss':>7} {'KSG-shuf':>9} "
              f"{'CLUB':>8} {'var kept t/v':>13}")
    lines = [header, '-' * len(header)]
    for label, fig in results.items():
        club = f"{fig['club']:8.3f}" if 'club' in fig else f"{'-':>8}"
        lines.append(f"{label:<24} {fig['num_samples']:>6d} {fig['ksg']:7.3f} "
                     f"{fig['gaussian']:7.3f} {fig['ksg_shuffled']:9.3f} {club} "
                     f"{fig['explained_x']:6.2f}/{fig['explained_y']:.2f}")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    """Measure every checkpoint; returns ``{label: figures}`` (and prints the table)."""
    parser, args = parse_args(argv)
    from tools.cli_utils import load_config, merge_cfg_options
    cfg, args.config = load_config(parser, args.config)
    merge_cfg_options(parser, cfg, args)
    if cfg.model.get('seg_head', {}).get('type') != 'DecoupledSegHead':
        parser.error(f"{args.config}: model.seg_head is not a DecoupledSegHead, so there "
                     'are no decoupled prompts h_t / h_v to measure (use a DeSa2VA config)')
    if args.split is not None:
        cfg.test_dataloader.dataset.split = args.split

    from mmengine.runner import load_checkpoint, set_random_seed
    model, loader = _build(cfg, args.mode)
    initial = {k: v.clone() for k, v in model.state_dict().items()
               if hasattr(v, 'clone')}
    labels = args.labels or [osp.basename(p) for p in args.checkpoints]
    results: Dict[str, Dict[str, float]] = {}
    for label, path in zip(labels, args.checkpoints):
        print(f'{label}: {path}', flush=True)
        model.load_state_dict(initial, strict=False)
        if path != 'none':
            load_checkpoint(model, path, map_location='cpu', strict=False,
                            logger='current')
        # The same seed per checkpoint: the training pipeline samples targets at random,
        # and every checkpoint must see the same rows.
        set_random_seed(args.seed)
        h_t, h_v = collect_prompts(model, loader, args.max_samples, args.mode)
        if len(h_t) < max(args.k + 1, 3):
            parser.error(f'{path}: only {len(h_t)} [SEG] rows were decoded on '
                         f'{cfg.test_dataloader.dataset.get("split")!r}; the model must answer '
                         'with [SEG] (train it longer) or the split must hold more samples')
        results[label] = measure(h_t, h_v, args.pca_dim, args.k, args.seed,
                                 getattr(model.seg_head, 'club_loss', None))
    print(f'\nI(h_t; h_v) in nats on {args.pca_dim} principal components per prompt '
          f'(k = {args.k}, {args.mode} mode):')
    print(_table(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoints=dict(zip(labels, args.checkpoints)),
                           mode=args.mode, pca_dim=args.pca_dim, k=args.k,
                           results=results), f, indent=2)
        print(f'written to {args.out}')
    cmd = ' '.join(['python', 'tools/analysis_tools/measure_mi.py'] + sys.argv[1:]) \
        if argv is None else 'python tools/analysis_tools/measure_mi.py ' + ' '.join(argv)
    print(f'reproduce: {cmd}')
    return results


if __name__ == '__main__':
    main()
