"""The stock OpenMMLab entry points on our configs and models.

mmdet 3.3.0's own ``tools/train.py`` / ``tools/test.py`` (shipped in the installed wheel
under ``mmdet/.mim/tools/``), ``FlexibleRunner.from_cfg`` / ``RUNNERS.build`` as those
scripts call them, and mmdet's model registry:

* the DeepSpeed configs build their runner and ``TrainableDeepSpeedStrategy`` (the
  strategy is built before the runner switches to ``default_scope``), the FSDP config its
  ``FSDPStrategy``;
* ``type='desa2va_mm.DeSa2VA'`` builds from an mmdet-scope config (sub-modules are built
  in our scope, including the default video tracker);
* checkpoints hold the message hub as plain data: a bare ``torch.load`` reads them in a
  process that imports neither desa2va_mm nor MMEngine, and resuming restores it exactly;
* a runner without our checkpoint guards gets one warning from the model;
* (slow) mmdet's stock ``train.py`` trains, resumes and ``test.py`` tests the tiny model with
  the same figures as our tools; the project config runs through our tools from another
  directory without ``PYTHONPATH``.
"""
import copy
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT


def _mmdet_tools() -> str:
    import mmdet
    return osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')


def _cfg(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', name))


@pytest.fixture
def no_config_formatting(monkeypatch):
    """The runner dumps its config three times through yapf (``Config.pretty_text``):
    ~40 s for a real-size config on 2 cores, and not what these tests check. The file's
    own text stands in for the formatted dump."""
    from mmengine.config import Config
    monkeypatch.setattr(Config, 'pretty_text', property(lambda self: self.text))


# ---- DeepSpeed / FSDP configs under FlexibleRunner -------------------------------------
@pytest.mark.parametrize('config, stage', [
    ('desa2va/desa2va_1b_decouple_zero2.py', 2),
    ('desa2va/desa2va_1b_decouple_zero3.py', 3),
    ('sa2va/sa2va_1b_zero2.py', 2),
])
def test_deepspeed_configs_build_through_the_stock_runner_registry(config, stage, tmp_path,
                                                                   monkeypatch,
                                                                   no_config_formatting):
    """What mmdet's ``tools/train.py`` does with a ``runner_type`` config: mmengine's
    ``RUNNERS.build(cfg)`` -> ``FlexibleRunner.from_cfg``, which builds the strategy while
    the default scope is still MMEngine's."""
    pytest.importorskip('deepspeed')
    import mmengine._strategy.deepspeed as ds_strategy
    from mmengine.registry import OPTIMIZERS, RUNNERS
    if 'DeepSpeedCPUAdam' in OPTIMIZERS.module_dict:
        # mmengine 0.10.7 registers DeepSpeed's optimizers in every strategy constructor
        # and fails the second time; a training process builds one strategy.
        monkeypatch.setattr(ds_strategy, 'register_deepspeed_optimizers', lambda: None)
    cfg = _cfg(config)
    assert cfg.strategy.type == 'desa2va_mm.TrainableDeepSpeedStrategy'
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    cfg.experiment_name = f'stock_ds_{stage}_{osp.basename(config)}'
    runner = RUNNERS.build(cfg)
    assert type(runner).__name__ == 'FlexibleRunner'
    strategy = runner.strategy
    assert type(strategy).__name__ == 'TrainableDeepSpeedStrategy'
    assert strategy.config['zero_optimization']['stage'] == stage
    assert strategy.pretrained_prefixes == ('mllm.', 'grounding_encoder.')
    # The runner then works in the config's scope, where the model's types live.
    assert runner.default_scope.scope_name == 'desa2va_mm'


def test_fsdp_config_builds_through_the_stock_runner_registry(tmp_path, no_config_formatting):
    from mmengine.registry import RUNNERS
    cfg = _cfg('desa2va/desa2va_1b_decouple_fsdp.py')
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    cfg.experiment_name = 'stock_fsdp'
    runner = RUNNERS.build(cfg)
    assert type(runner.strategy).__name__ == 'FSDPStrategy'
    assert runner.default_scope.scope_name == 'desa2va_mm'


# ---- our models from mmdet's scope ------------------------------------------------------
def test_build_in_scope_resolves_our_types_from_mmdets_scope():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope

    from desa2va_mm.models.builder import build_in_scope
    cfg = dict(type='SegTokenDecoupler', in_channels=8, out_channels=4)
    with DefaultScope.overwrite_default_scope('mmdet'):
        # MMEngine looks a bare name up in the current scope's registry ...
        with pytest.raises(KeyError, match='SegTokenDecoupler is not in the mmdet::model'):
            MMDET_MODELS.build(dict(cfg))
        neck = build_in_scope(cfg)  # ... ours builds it in desa2va_mm's
        loss = build_in_scope(dict(type='DiceLoss', _scope_='mmdet'))  # a scope it names wins
        assert DefaultScope.get_current_instance().scope_name == 'mmdet'  # restored
    assert type(neck).__name__ == 'SegTokenDecoupler'
    assert type(loss).__module__.startswith('mmdet.')
    assert 'type' in cfg and '_scope_' not in cfg  # the caller's dict is not modified
    with pytest.raises(TypeError, match='config dict'):
        build_in_scope(['SegTokenDecoupler'])


def test_desa2va_builds_from_an_mmdet_scope_config():
    """``default_scope='mmdet'``, ``type='desa2va_mm.DeSa2VA'``: every sub-module (data
    preprocessor, MLLM, SAM-2, decoupled seg head with its losses, the default video
    tracker built inside the constructor) comes from our registry."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope
    cfg = _cfg('desa2va/desa2va_tiny_decouple.py')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.type = 'desa2va_mm.DeSa2VA'
    model_cfg.pop('video_tracker')  # the tracker the constructor builds by default
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(0)
        model = MMDET_MODELS.build(model_cfg)
    assert type(model).__name__ == 'DeSa2VA'
    assert type(model.data_preprocessor).__name__ == 'ReferringDataPreprocessor'
    assert type(model.grounding_encoder).__name__ == 'SAM2Grounding'
    assert type(model.seg_head).__name__ == 'DecoupledSegHead'
    assert type(model.seg_head.neck).__name__ == 'SegTokenDecoupler'
    assert type(model.video_tracker).__name__ == 'SAM2VideoTracker'
    assert type(model.seg_head.loss_dice).__name__ == 'DiceLoss'  # mmdet's, via our parent


# ---- checkpoints as plain data ----------------------------------------------------------
def test_message_hub_round_trips_through_plain_types(tmp_path):
    from mmengine.logging import HistoryBuffer

    from desa2va_mm.utils.checkpoint_safety import (PLAIN_TYPE_KEY, plain_message_hub,
                                                    restore_message_hub)
    buffer = HistoryBuffer(max_length=7)
    for value in (0.1, 1 / 3, 2.5, 7):
        buffer.update(value)
    state = dict(
        log_scalars={'train/loss': buffer},
        runtime_info={'iter': 5, 'best_score': np.float64(0.1 + 0.2),
                      'val/cIoU': np.float32(0.3), 'flag': np.bool_(True),
                      'hist': np.arange(6, dtype=np.int32).reshape(2, 3),
                      'nested': [np.int64(3), ('a', np.float64(1.5))]},
        resumed_keys={'train/loss': True, 'iter': True})
    plain = plain_message_hub(state)
    assert isinstance(state['log_scalars']['train/loss'], HistoryBuffer)  # input untouched
    assert plain['log_scalars']['train/loss'][PLAIN_TYPE_KEY] == 'HistoryBuffer'
    path = tmp_path / 'hub.pth'
    torch.save(plain, path)
    saved = torch.serialization.get_safe_globals()
    try:
        torch.serialization.clear_safe_globals()  # nothing of ours allow-listed
        assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []
        loaded = torch.load(path)  # weights_only=True
    finally:
        torch.serialization.add_safe_globals(saved)
    restored = restore_message_hub(loaded)
    back = restored['log_scalars']['train/loss']
    assert isinstance(back, HistoryBuffer) and back.max_length == 7
    for name in ('_log_history', '_count_history'):
        original = getattr(buffer, name)
        assert getattr(back, name).dtype == original.dtype
        assert np.array_equal(getattr(back, name), original)
    assert back.mean() == buffer.mean() and back.current() == buffer.current()
    info = restored['runtime_info']
    assert info['best_score'] == 0.1 + 0.2  # bit for bit (0.30000000000000004)
    assert info['val/cIoU'] == float(np.float32(0.3)) and info['flag'] is True
    assert info['hist'].dtype == np.int32 and np.array_equal(info['hist'],
                                                             state['runtime_info']['hist'])
    assert info['nested'] == [3, ('a', 1.5)] and info['iter'] == 5
    # A message hub written without the hook (HistoryBuffer objects) passes unchanged.
    assert restore_message_hub(state)['log_scalars']['train/loss'] is buffer


def test_model_warns_once_without_the_checkpoint_guards(monkeypatch):
    import mmengine.logging
    from mmengine.model import BaseModel

    from desa2va_mm.utils.checkpoint_safety import mark_checkpoint_guard, warn_if_unguarded
    messages = []
    print_log = mmengine.logging.print_log

    def record(msg, **kwargs):
        if 'is training in a runner without' in str(msg):
            messages.append(msg)
        return print_log(msg, **kwargs)

    monkeypatch.setattr(mmengine.logging, 'print_log', record)

    class Model(BaseModel):
        def __init__(self, sources=None):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)
            self._sources = sources

        def pretrained_sources(self):
            return self._sources or {}

        def forward(self, *args, **kwargs):
            raise NotImplementedError

    bare = Model()
    warn_if_unguarded(bare)
    warn_if_unguarded(bare)  # once per model
    assert len(messages) == 1
    assert 'CheckpointConfigGuardHook, ExactResumeHook' in messages[0]
    assert "custom_hooks=[dict(type='desa2va_mm.CheckpointConfigGuardHook')" in messages[0]
    assert 'TrainableCheckpointHook' not in messages[0]  # no pretrained file named

    # Our runtime: the hooks mark the (wrapped) model in before_run; nothing printed.
    guarded = Model()
    wrapper = torch.nn.Sequential(guarded)  # stands in for DDP / DeepSpeed wrappers
    for guard in ('CheckpointConfigGuardHook', 'ExactResumeHook'):
        mark_checkpoint_guard(wrapper, guard)
    warn_if_unguarded(guarded)
    assert len(messages) == 1

    # A real-size model (a pretrained file named) also needs the trainable-only rule.
    real = Model({'mllm.': ('hf/InternVL', 'model.mllm.pretrained')})
    for guard in ('CheckpointConfigGuardHook', 'ExactResumeHook'):
        mark_checkpoint_guard(real, guard)
    warn_if_unguarded(real)
    assert len(messages) == 2 and 'without TrainableCheckpointHook' in messages[1]


# ---- the stock scripts, end to end -----------------------------------------------------
def _env(stock: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='2')
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(key, None)
    if stock:
        # mmdet's scripts import what the config names; desa2va_mm must be importable
        # (installed, or the repository root on PYTHONPATH as mmdet's docs say).
        env['PYTHONPATH'] = REPO_ROOT
    else:
        env.pop('PYTHONPATH', None)  # our tools find the checkout themselves
    return env


def _run(args, cwd, stock):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=str(cwd), env=_env(stock),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _scalars(work_dir):
    """``{iter: {'loss': ...}}`` of the training runs and the test metrics in work_dir."""
    train, test = {}, {}
    for root, _, files in os.walk(work_dir):
        for name in files:
            # LoggerHook's logs: <work_dir>/<timestamp>/vis_data/<timestamp>.json (training),
            # <work_dir>/<timestamp>/<timestamp>.json (test metrics)
            if name.endswith('.json') and name[:-5] in (
                    osp.basename(root), osp.basename(osp.dirname(root))):
                for line in open(osp.join(root, name)):
                    entry = json.loads(line)
                    if 'loss' in entry:
                        train[entry['iter']] = {k: v for k, v in entry.items()
                                                if k.startswith('loss')}
                    elif 'cIoU' in entry:
                        test = {k: v for k, v in entry.items()
                                if k in ('cIoU', 'gIoU', 'mIoU')}
    return train, test


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mmdet_stock_train_resume_test_match_our_tools(synthetic_refcoco, tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py')
    data = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        data += [f'{loader}.dataset.data_root={synthetic_refcoco}/', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    train = data + ['train_dataloader.batch_size=2', 'train_cfg.val_interval=100',
                    'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=2',
                    'load_from=None', 'val_cfg=None', 'val_dataloader=None',
                    'val_evaluator=None']
    stock_train = osp.join(_mmdet_tools(), 'train.py')
    stock_test = osp.join(_mmdet_tools(), 'test.py')
    stock, ours = tmp_path / 'stock', tmp_path / 'ours'

    # mmdet's train.py: 2 iterations, then --resume to 3 (auto-resume from work_dir).
    _run([stock_train, config, '--work-dir', stock, '--cfg-options', *train,
          'train_cfg.max_iters=2'], REPO_ROOT, stock=True)
    ckpt = stock / 'iter_2.pth'
    # A bare torch.load (weights_only=True) in a process without desa2va_mm / MMEngine.
    probe = ('import sys, torch; ck = torch.load(sys.argv[1]); '
             "assert 'desa2va_mm' not in sys.modules and 'mmengine' not in sys.modules; "
             "print(sorted(ck['message_hub']['log_scalars']))")
    out = subprocess.run([sys.executable, '-c', probe, str(ckpt)], cwd=str(tmp_path),
                         capture_output=True, text=True, env=_env(stock=False), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'train/loss' in out.stdout
    log = _run([stock_train, config, '--work-dir', stock, '--resume', '--cfg-options',
                *train, 'train_cfg.max_iters=3'], REPO_ROOT, stock=True)
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'is training in a runner without' not in log  # our runtime's guards are on
    _run([stock_test, config, stock / 'iter_3.pth', '--work-dir', stock / 'test',
          '--out', stock / 'preds.pkl', '--cfg-options', *data], REPO_ROOT, stock=True)

    # Our tools: 3 iterations straight, then test.
    _run(['tools/train.py', config, '--work-dir', ours, '--cfg-options', *train,
          'train_cfg.max_iters=3'], REPO_ROOT, stock=False)
    _run(['tools/test.py', config, ours / 'iter_3.pth', '--work-dir', ours / 'test',
          '--out', ours / 'preds.pkl', '--cfg-options', *data], REPO_ROOT, stock=False)

    stock_losses, _ = _scalars(stock)
    our_losses, _ = _scalars(ours)
    assert sorted(stock_losses) == sorted(our_losses) == [1, 2, 3]
    # Iteration 3 of the resumed stock run equals the uninterrupted run's (exact resume).
    assert stock_losses == our_losses
    _, stock_metrics = _scalars(stock / 'test')
    _, our_metrics = _scalars(ours / 'test')
    assert set(stock_metrics) == {'cIoU', 'gIoU', 'mIoU'}
    assert stock_metrics == our_metrics
    # The same predictions, mask for mask (RLEs) and score for score.
    stock_preds = pickle.load(open(stock / 'preds.pkl', 'rb'))
    our_preds = pickle.load(open(ours / 'preds.pkl', 'rb'))
    assert len(stock_preds) == len(our_preds) > 0
    for theirs, mine in zip(stock_preds, our_preds):
        assert theirs['img_path'] == mine['img_path']
        assert theirs['pred_answers'] == mine['pred_answers']
        assert theirs['pred_instances']['masks'] == mine['pred_instances']['masks']
        assert torch.equal(theirs['pred_instances']['scores'],
                           mine['pred_instances']['scores'])
    state = torch.load(stock / 'iter_3.pth')['state_dict']
    theirs = torch.load(ours / 'iter_3.pth')['state_dict']
    assert state.keys() == theirs.keys()
    assert all(torch.equal(state[k], theirs[k]) for k in state)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_project_config_runs_through_our_tools_without_pythonpath(synthetic_refcoco,
                                                                   tmp_path):
    """``custom_imports`` of ``projects.box_prompted_sam2...`` needs the repository root
    on ``sys.path``: our tools put it there, from any working directory."""
    config = osp.join(REPO_ROOT, 'projects', 'box_prompted_sam2', 'configs',
                      'retinanet_r18_box_sam2_tiny_synthetic.py')
    ann = f'{synthetic_refcoco}/refcoco/instances.json'
    opts = ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=16',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'test_dataloader.num_workers=0', f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}', 'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={synthetic_refcoco}/',
                 f'{loader}.persistent_workers=False']
    log = _run([osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
                tmp_path / 'work', '--cfg-options', *opts], tmp_path, stock=False)
    assert 'loss_mask' in log and 'loss_bbox' in log
    assert 'Epoch(val) [1][4/4]' in log  # mmdet's CocoMetric ran on the 32 images
    assert 'is training in a runner without' not in log  # the config adds our guards
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
