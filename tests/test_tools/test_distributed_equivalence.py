"""2-process gloo training / testing (torchrun, CPU) against 1 process.

* Training: 2 ranks x batch 2 follow the same trajectory as 1 rank x batch 4 (the
  InfiniteSampler hands rank r the items r, r+2, ... of the same shuffled order, and DDP
  averages the two per-rank mean gradients): parameters after every one of the 4 steps,
  and the training loss of each step's model, agree within float tolerance.
* Evaluation: the 2-rank validation on an odd-sized split (15 samples, batch 4; the
  sampler pads rank 1 with a duplicate, which the evaluator must drop) gives the same
  metric as single-process tools/test.py on the same checkpoint.
"""
import glob
import os.path as osp
import pickle

import pytest
import torch

from test_train_test_tools import (TEST, TOOLS, TOY_CONFIG, TRAIN, _free_port,  # noqa
                                   _run, _run_tool, _test_metrics)


def _checkpoints(work_dir, iters):
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    return [torch.load(osp.join(work_dir, f'iter_{i}.pth'))['state_dict'] for i in iters]


def _train_loss(state_dict):
    """Mean BCE of the toy model over its 32 training samples."""
    import sys
    sys.path.insert(0, osp.dirname(osp.dirname(TOY_CONFIG)))
    try:
        from toy_plugin import ToyRefDataset
    finally:
        sys.path.pop(0)
    data = ToyRefDataset(num_samples=32, seed=0)
    logits = data.inputs @ state_dict['linear.weight'].T + state_dict['linear.bias']
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits.squeeze(-1), data.labels.float()).item()


@pytest.fixture(scope='module')
def single_and_dist_train(tmp_path_factory):
    """One torchrun launch (~40 s on 2 cores): 4 steps of 2 x batch 2, validating at the
    end on an odd-sized split (15 samples, batch 4: rank 1's part is padded)."""
    root = tmp_path_factory.mktemp('dist_equiv')
    common = ['--cfg-options', 'train_cfg.val_interval=4', ODD_VAL,
              'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None']
    _run_tool(TRAIN, TOY_CONFIG, '--work-dir', root / 'single',
              *common, 'train_dataloader.batch_size=4')
    proc = _run(['bash', osp.join(TOOLS, 'dist_train.sh'), TOY_CONFIG, '2', '--work-dir',
                 str(root / 'dist'), *common, 'train_dataloader.batch_size=2'],
                root, PORT=str(_free_port()))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


ODD_VAL = 'val_dataloader.dataset.num_samples=15'


def test_two_ranks_batch_b_match_one_rank_batch_2b(single_and_dist_train):
    root = single_and_dist_train
    single = _checkpoints(root / 'single', range(1, 5))
    dist = _checkpoints(root / 'dist', range(1, 5))
    for step, (a, b) in enumerate(zip(single, dist), start=1):
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6,
                                       msg=f'{key} after step {step}')
        assert abs(_train_loss(a) - _train_loss(b)) < 1e-5
    # the model did move (the comparison is not between two untouched models)
    assert not torch.allclose(single[0]['linear.weight'], single[-1]['linear.weight'])


def _val_metrics(work_dir) -> dict:
    """The last ``toy/*`` values in the run's scalar log (validation at iteration 4)."""
    import json
    found = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(found) == 1, found
    with open(found[0]) as f:
        rows = [json.loads(line) for line in f if 'toy/acc' in line]
    return {k: v for k, v in rows[-1].items() if k.startswith('toy/')}


def test_dist_evaluation_on_uneven_split_counts_each_sample_once(single_and_dist_train,
                                                                 tmp_path):
    """The 2-rank validation of the final model equals single-process tools/test.py on the
    same checkpoint and split: a dropped or doubled sample would change both the accuracy
    (a multiple of 1/15) and the mean score. ``--out`` holds each sample once."""
    root = single_and_dist_train
    _run_tool(TEST, TOY_CONFIG, root / 'dist' / 'iter_4.pth', '--work-dir', tmp_path / 's',
              '--out', tmp_path / 's.pkl', '--cfg-options',
              'test_dataloader.dataset.num_samples=15')
    single = _test_metrics(tmp_path / 's')
    dist = _val_metrics(root / 'dist')
    assert single.keys() == dist.keys() == {'toy/acc', 'toy/mean_score'}
    for key in single:
        assert abs(single[key] - dist[key]) < 1e-6, key
    assert abs(single['toy/acc'] * 15 - round(single['toy/acc'] * 15)) < 1e-6
    with open(tmp_path / 's.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert sorted(p['sample_idx'] for p in preds) == list(range(15))
