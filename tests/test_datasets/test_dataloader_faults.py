"""Data-loader faults in the real-size Sa2VA mix.

* A corrupt sample (a truncated image, a video whose annotation lists a missing frame) in
  the mix of the real-size configs (``SkipBadSamples`` around the ``ConcatDataset`` of
  ``RepeatDataset`` s, ``configs/_base_/real_size_training.py``) is reported with its file
  and the member dataset it belongs to, then skipped or, with ``max_bad_samples=0``,
  stops the run (fast: the mini mix in its authors' layouts, loading steps of the real
  pipelines).
* A data-loader worker killed mid-sample (``SIGKILL``, as the out-of-memory killer does)
  or stuck fails the run within a bounded time with an error that says what happened and
  which sample it was loading, never a hang (slow: real worker processes).
"""
import logging
import os
import os.path as osp
import pickle
import re
import subprocess
import sys
import textwrap
import time

import pytest
from mmengine.dataset import BaseDataset

from conftest import REPO_ROOT

# The real pipelines' steps that read files; tiling, tokenising and packing need the
# model's tokenizer and are not what can be corrupt.
LOADING_STEPS = {'LoadImageFromFile', 'SampleReferringTargets', 'LoadReferringMasks',
                 'SampleVideoExpressions', 'SampleVideoFrames', 'LoadVideoFrames',
                 'LoadVideoAnnotations'}


@pytest.fixture(scope='module')
def mini_mix(tmp_path_factory):
    from desa2va_mm.testing.mini_mix import write_mini_mix
    root = tmp_path_factory.mktemp('mini_mix_faults')
    write_mini_mix(str(root), seed=0)
    return root


@pytest.fixture(scope='module')
def real_mix(mini_mix):
    """``train_dataloader.dataset`` of a real-size config (SkipBadSamples around the
    ConcatDataset of RepeatDatasets), built on the mini mix with the pipelines cut to
    their loading steps."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'desa2va', 'desa2va_1b_decouple.py'))
    wrapper = cfg.train_dataloader.dataset.to_dict()
    assert wrapper['type'] == 'SkipBadSamples' and wrapper['dataset']['type'] == 'ConcatDataset'
    for member in wrapper['dataset']['datasets']:
        inner = member['dataset'] if member['type'] == 'RepeatDataset' else member
        inner['data_root'] = osp.join(str(mini_mix), inner['data_root'])
        inner['serialize_data'] = False  # skips a gc.collect() per member
        inner['pipeline'] = [step for step in inner['pipeline']
                             if step['type'] in LOADING_STEPS]
    init_default_scope('desa2va_mm')
    return DATASETS.build(wrapper)


@pytest.fixture
def strict(real_mix):
    """The same mix with ``max_bad_samples=0``: the first bad sample stops the run."""
    saved = real_mix.max_bad_samples, real_mix.num_bad_samples
    real_mix.max_bad_samples = 0
    yield real_mix
    real_mix.max_bad_samples, real_mix.num_bad_samples = saved


def _capture_warnings():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda r: records.append(r.getMessage())
    logger.addHandler(handler)
    return logger, handler, records


def test_real_size_configs_guard_the_mix():
    from mmengine.config import Config
    for config in ('desa2va/desa2va_1b_decouple.py', 'sa2va/sa2va_1b.py', 'desa2va/desa2va_8b_decouple.py'):
        loader = Config.fromfile(osp.join(REPO_ROOT, 'configs', config)).train_dataloader
        assert loader.dataset.type == 'SkipBadSamples', config
        assert loader.dataset.max_bad_samples == 100
        members = loader.dataset.dataset.datasets
        # One member per set the mix keeps (configs/_base_/datasets/sa2va_mix.py).
        mix = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/sa2va_mix.py'))
        kept = [name for name, times in mix.mix_repeats.items() if times > 0]
        assert len(kept) == 19 and 'sav' in kept and 'osprey_conversation' in kept
        assert len(members) == len(kept)
        assert loader.dataset.dataset.ignore_keys == ['dataset_type']
        assert 0 < loader.timeout <= 600  # below the 10 min collective timeout
        assert loader.num_workers > 0 and loader.persistent_workers


def test_corrupt_image_in_the_mix_is_named_and_skipped(real_mix):
    mix = real_mix
    # the first RefCOCO+ sample (member 1 of the mix): truncate its image
    index = mix.dataset.cumulative_sizes[0]
    img_path = mix.get_data_info(index)['img_path']
    with open(img_path, 'rb') as f:
        data = f.read()
    try:
        with open(img_path, 'wb') as f:
            f.write(data[:len(data) // 2])  # a JPEG cut short
        logger, handler, records = _capture_warnings()
        try:
            sample = mix[index]
        finally:
            logger.removeHandler(handler)
        skipped = [r for r in records if r.startswith('SkipBadSamples: skipped')]
        # Every referring set of the mini mix reads the same COCO image (and the sets are
        # repeated): each sample that reads it is skipped, naming it, until another loads.
        assert skipped and all(f'img_path={img_path}' in r for r in skipped)
        message = skipped[0]
        assert f'sample {index} (img_path={img_path}' in message
        assert 'RefCocoReferringDataset' in message
        assert 'data/coco/refcoco+/instances.json' in message
        assert 'member 1 of the ConcatDataset' in message
        assert 'BadImageError' in message and 'truncated' in message
        assert f'loading sample {index + 1} instead' in message
        assert sample['img_path'] != img_path  # the replacement was loaded
    finally:
        with open(img_path, 'wb') as f:
            f.write(data)


def test_corrupt_image_stops_the_run_in_strict_mode(strict, tmp_path):
    index = strict.dataset.cumulative_sizes[0]
    img_path = strict.get_data_info(index)['img_path']
    with open(img_path, 'rb') as f:
        data = f.read()
    try:
        with open(img_path, 'wb'):
            pass  # zero bytes
        from desa2va_mm.datasets import BadSampleError
        with pytest.raises(BadSampleError, match='more than max_bad_samples=0') as error:
            strict[index]
        text = str(error.value)
        assert img_path in text and 'member 1 of the ConcatDataset' in text
        assert 'is empty (0 bytes)' in text
    finally:
        with open(img_path, 'wb') as f:
            f.write(data)


def test_video_with_a_missing_frame_in_the_mix_is_named(strict):
    """A broken annotation: MeViS lists a frame whose file is gone."""
    mix = strict
    index = next(i for i in range(len(mix))
                 if 'mevis' in str(mix.get_data_info(i).get('frame_paths', '')))
    info = mix.get_data_info(index)
    frame = info['frame_paths'][0]
    os.rename(frame, frame + '.moved')
    try:
        from desa2va_mm.datasets import BadSampleError
        with pytest.raises(BadSampleError) as error:
            for _ in range(20):  # frames are sampled at random: the first is drawn soon
                mix.num_bad_samples = 0
                mix[index]
        text = str(error.value)
        assert f"sample {index} (video_id={info['video_id']}" in text
        assert 'MeViSDataset' in text and 'of the ConcatDataset' in text
        assert osp.basename(frame) in text and 'does not exist' in text
    finally:
        os.rename(frame + '.moved', frame)


def test_tools_train_accepts_the_timeout_without_workers(tmp_path):
    """PyTorch refuses ``timeout`` with ``num_workers=0`` (debugging runs, the real-path
    rehearsal); tools/train.py drops it there instead of failing."""
    sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'test_tools'))
    try:
        from test_train_test_tools import TOY_CONFIG, TRAIN, _run_tool
    finally:
        sys.path.pop(0)
    _run_tool(TRAIN, TOY_CONFIG, '--work-dir', tmp_path, '--cfg-options',
              'train_dataloader.timeout=300', 'train_dataloader.num_workers=0',
              'train_cfg.max_iters=2', 'default_hooks.checkpoint.save_best=None')
    assert osp.isfile(tmp_path / 'iter_2.pth')


class Images(BaseDataset):
    """Eight image records; nothing is read."""

    def load_data_list(self):
        return [dict(img_path=f'images/{i:03d}.jpg') for i in range(8)]


def test_dataloader_failures_are_explained_with_the_traced_sample(tmp_path):
    from desa2va_mm.datasets.wrappers import (DataLoaderWorkerError, SkipBadSamples,
                                              explain_dataloader_failure)
    dataset = SkipBadSamples(Images(serialize_data=False))
    dataset.loading_trace.start(5)  # this process is "loading" sample 5
    died = explain_dataloader_failure(
        RuntimeError(f'DataLoader worker (pid(s) {os.getpid()}) exited unexpectedly'))
    assert isinstance(died, DataLoaderWorkerError)
    assert f'DataLoader worker pid {os.getpid()} exited unexpectedly while loading ' \
           'sample 5 (img_path=images/005.jpg)' in str(died)
    hung = explain_dataloader_failure(RuntimeError('DataLoader timed out after 300 seconds'))
    assert re.search(rf'worker pid {os.getpid()} has been loading sample 5 '
                     r'\(img_path=images/005.jpg\) for \d+ s', str(hung))
    assert 'train_dataloader.timeout (300 s)' in str(hung)
    dataset.loading_trace.done()
    assert explain_dataloader_failure(RuntimeError('CUDA out of memory')) is None
    # a pickled copy (a spawned worker) shares nothing and records nothing
    copy = pickle.loads(pickle.dumps(dataset))
    copy.loading_trace.start(3)
    assert copy.loading_trace.loading() == [] and dataset.loading_trace.loading() == []


# ---- slow: real worker processes ---------------------------------------------------------
_FAULT_PLUGIN = textwrap.dedent('''
    """Transforms that break the data-loader worker running them (fault injection)."""
    import os
    import signal
    import time

    from mmcv.transforms import BaseTransform
    from mmengine.registry import TRANSFORMS
    from torch.utils.data import get_worker_info


    @TRANSFORMS.register_module()
    class BreakWorker(BaseTransform):
        """In worker 0, on its ``after``-th sample: SIGKILL itself (as the out-of-memory
        killer would) or hang; the sample's path is written to ``record`` first."""

        def __init__(self, record, after=3, mode='kill'):
            self.record, self.after, self.mode = record, after, mode
            self.count = 0

        def transform(self, results):
            info = get_worker_info()
            if info is None or info.id != 0:
                return results
            self.count += 1
            if self.count == self.after:
                with open(self.record, 'w') as f:
                    f.write(results['img_path'])
                if self.mode == 'kill':
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(3600)
            return results
''')


def _write_fault_config(tmp_path, data_root, mode, persistent=True, timeout=0, after=3):
    """The tiny config, its training set wrapped in SkipBadSamples (as the real-size mix),
    2 workers, and ``BreakWorker`` first in the pipeline."""
    from mmengine.config import Config
    (tmp_path / 'fault_plugin.py').write_text(_FAULT_PLUGIN)
    record = str(tmp_path / 'victim.txt')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py'))
    inner = cfg.train_dataloader.dataset
    inner.data_root = data_root + '/'
    inner.pipeline = [dict(type='BreakWorker', record=record, after=after, mode=mode)
                      ] + inner.pipeline
    cfg.custom_imports = dict(imports=['fault_plugin'], allow_failed_imports=False)
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=2, persistent_workers=persistent, timeout=timeout,
        sampler=cfg.train_dataloader.sampler,
        dataset=dict(type='SkipBadSamples', dataset=inner))
    for key in ('val_dataloader', 'val_evaluator', 'val_cfg', 'test_dataloader',
                'test_evaluator', 'test_cfg'):
        cfg[key] = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=50, val_interval=100000)
    cfg.load_from = None
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.pop('visualization')
    config = str(tmp_path / f'fault_{mode}.py')
    cfg.dump(config)
    return config, record


def _train(config, work_dir, cwd, timeout):
    env = dict(os.environ, PYTHONPATH=str(cwd), OMP_NUM_THREADS='1')
    start = time.time()
    proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
                           '--work-dir', str(work_dir)], env=env, cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.time() - start


@pytest.mark.slow
@pytest.mark.parametrize('persistent, after', [(True, 3), (False, 16)])
def test_worker_killed_mid_sample_fails_the_run_naming_the_sample(tmp_path, synthetic_refcoco,
                                                                  persistent, after):
    """Killed while prefetching the first batches (3rd sample: before the first iteration)
    or in the middle of training (16th sample), with persistent or per-epoch workers."""
    config, record = _write_fault_config(tmp_path, synthetic_refcoco, 'kill', persistent,
                                         after=after)
    proc, seconds = _train(config, tmp_path / 'work', tmp_path, timeout=600)
    assert proc.returncode != 0
    victim = open(record).read()
    err = proc.stderr
    assert 'DataLoaderWorkerError' in err, err[-3000:]
    assert 'was killed by SIGKILL while loading sample' in err
    assert f'img_path={victim}' in err  # the file the worker was loading
    assert "out-of-memory killer" in err and 'num_workers' in err
    trained = re.findall(r'Iter\(train\) \[\s*(\d+)/', proc.stdout)
    assert bool(trained) == (after > 3)  # the late death came after training iterations
    print(f'worker death reported {seconds:.1f} s after the start')


@pytest.mark.slow
def test_stuck_worker_fails_after_the_dataloader_timeout(tmp_path, synthetic_refcoco):
    config, record = _write_fault_config(tmp_path, synthetic_refcoco, 'hang', timeout=10)
    proc, seconds = _train(config, tmp_path / 'work', tmp_path, timeout=600)
    assert proc.returncode != 0
    victim = open(record).read()
    err = proc.stderr
    assert 'DataLoader timed out after 10 seconds' in err, err[-3000:]
    assert 'DataLoaderWorkerError' in err
    assert 'has been loading sample' in err and f'img_path={victim}' in err
    assert 'train_dataloader.timeout (10 s)' in err
