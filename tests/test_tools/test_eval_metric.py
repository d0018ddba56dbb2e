"""tools/analysis_tools/eval_metric.py: a ``tools/test.py --out`` pickle scored again gives
the test run's own figures, for an image and a video config."""
import json
import os
import os.path as osp
import pickle
import runpy
import sys

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, load_tiny_cfg

TEST = osp.join(REPO_ROOT, 'tools/test.py')
IMAGE_CONFIG = osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py')
VIDEO_CONFIG = osp.join(REPO_ROOT, 'configs/desa2va_video/desa2va_tiny_video.py')


def _checkpoint(config, path):
    """Random weights of ``config``'s model (the metric, not the model, is under test)."""
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(load_tiny_cfg(config=config).model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


@pytest.fixture
def seg_answers(monkeypatch):
    """Random weights never emit [SEG]: after the checkpoint is loaded, every generated token
    is [SEG], so the dumped masks are not empty and the figures are not trivially 0."""
    from mmengine.runner import Runner

    from tools.analysis_tools.benchmark_inference import force_seg_answers
    load = Runner.load_or_resume

    def load_then_force(runner):
        load(runner)
        force_seg_answers(runner.model)

    monkeypatch.setattr(Runner, 'load_or_resume', load_then_force)


def _run_test_tool(*argv):
    """``python tools/test.py argv...`` in this process (importing the stack once)."""
    saved_argv, saved_env = sys.argv, dict(os.environ)
    os.environ.pop('LOCAL_RANK', None)
    sys.argv = [TEST, *map(str, argv)]
    try:
        runpy.run_path(TEST, run_name='__main__')
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)


def _test_run_metrics(work_dir) -> dict:
    """The metrics tools/test.py logged: ``<work_dir>/<timestamp>/<timestamp>.json``."""
    for root, _, files in os.walk(work_dir):
        for name in files:
            if name.endswith('.json') and osp.basename(root) == name[:-5]:
                with open(osp.join(root, name)) as f:
                    return json.loads(f.read().splitlines()[-1])
    raise AssertionError(f'no metrics json under {work_dir}')


def _loader_options(data_root):
    return [f'test_dataloader.dataset.data_root={data_root}',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']


@pytest.mark.slow
def test_image_predictions_rescored_equal_the_test_run(synthetic_refcoco, seg_answers,
                                                       tmp_path, capsys):
    from tools.analysis_tools.eval_metric import main
    ckpt = _checkpoint(IMAGE_CONFIG, str(tmp_path / 'tiny.pth'))
    out = tmp_path / 'preds.pkl'
    data = _loader_options(synthetic_refcoco + '/')
    _run_test_tool(IMAGE_CONFIG, ckpt, '--work-dir', tmp_path / 'work', '--out', out,
                   '--cfg-options', *data, 'experiment_name=eval_metric_image')
    online = _test_run_metrics(tmp_path / 'work')
    dumped = pickle.load(open(out, 'rb'))
    # Masks are dumped as RLEs; non-empty predictions make the comparison meaningful.
    assert isinstance(dumped[0]['pred_instances']['masks'][0]['counts'], bytes)
    assert online['cIoU'] > 0 and online['gIoU'] > 0

    offline = main([IMAGE_CONFIG, str(out), '--cfg-options', *data])
    assert set(offline) == {'cIoU', 'gIoU', 'mIoU'}
    for name, value in offline.items():
        assert value == pytest.approx(online[name], abs=1e-4), name  # the log rounds to 4
    assert f'scoring {len(dumped)} samples' in capsys.readouterr().out

    # Another metric setting on the same predictions, no model run.
    only_ciou = main([IMAGE_CONFIG, str(out), '--cfg-options', *data,
                      'test_evaluator.metric=[cIoU]'])
    assert only_ciou == {'cIoU': offline['cIoU']}


@pytest.fixture
def mevis_valid_u(tmp_path):
    """One synthetic MeViS valid_u video: 6 frames, its first 2 expressions."""
    from desa2va_mm.synthetic import make_synthetic_mevis
    root = str(tmp_path / 'mevis')
    make_synthetic_mevis(root, num_videos=1, num_frames=6, seed=0, splits=(('valid_u', 1.0), ))
    meta_file = osp.join(root, 'valid_u', 'meta_expressions.json')
    meta = json.load(open(meta_file))
    for video in meta['videos'].values():
        video['expressions'] = dict(list(video['expressions'].items())[:2])
    json.dump(meta, open(meta_file, 'w'))
    return root + '/valid_u/'


@pytest.mark.slow
def test_video_predictions_rescored_equal_the_test_run(mevis_valid_u, seg_answers, tmp_path):
    from tools.analysis_tools.eval_metric import main
    ckpt = _checkpoint(VIDEO_CONFIG, str(tmp_path / 'tiny_video.pth'))
    out = tmp_path / 'video_preds.pkl'
    data = _loader_options(mevis_valid_u)
    _run_test_tool(VIDEO_CONFIG, ckpt, '--work-dir', tmp_path / 'work', '--out', out,
                   '--cfg-options', *data, 'experiment_name=eval_metric_video')
    online = _test_run_metrics(tmp_path / 'work')
    (video, ) = pickle.load(open(out, 'rb'))
    assert len(video['pred_rles']) == 2 and len(video['pred_rles'][0]) == 6
    assert online['J&F'] > 0

    offline = main([VIDEO_CONFIG, str(out), '--cfg-options', *data])
    assert set(offline) == {'J', 'F', 'J&F', 'first_frame_copy/J', 'first_frame_copy/F',
                            'first_frame_copy/J&F'}
    for name, value in offline.items():
        assert value == pytest.approx(online[name], abs=1e-4), name

    # The same predictions under ReVOS's evaluator settings need what ReVOS data adds.
    with pytest.raises(SystemExit) as exc:
        main([VIDEO_CONFIG, str(out), '--cfg-options', *data,
              'test_evaluator.type=ReVOSMetric'])
    assert exc.value.code == 1


# ---- fast: the decoding and the errors, on a pickle built as DumpDetResults builds it ----
def _dump_like_test_py(samples, path):
    """What ``--out`` writes: ``AtomicDumpDetResults`` fed the test samples as dicts."""
    from mmengine.evaluator import Evaluator

    from desa2va_mm.evaluation.metrics import AtomicDumpDetResults
    dump = Evaluator([AtomicDumpDetResults(out_file_path=str(path))])
    dump.process(samples)
    dump.evaluate(len(samples))


def _image_sample(masks_pred, masks_gt, name):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    sample = DetDataSample(metainfo=dict(
        img_path=name, ori_shape=masks_gt.shape[1:], text=['a'] * len(masks_gt),
        gt_masks=BitmapMasks(masks_gt.astype(np.uint8), *masks_gt.shape[1:])))
    sample.pred_instances = InstanceData(masks=torch.from_numpy(masks_pred),
                                         scores=torch.ones(len(masks_pred)))
    return sample


def test_decoded_pickle_scores_like_the_metric_on_tensors(synthetic_refcoco, tmp_path):
    """ReferringSegMetric on the tensors vs eval_metric.py on their dump: equal figures."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS
    from desa2va_mm.utils import register_all_modules
    from tools.analysis_tools.eval_metric import main
    register_all_modules()
    init_default_scope('desa2va_mm')
    cfg = load_tiny_cfg(synthetic_refcoco)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(len(dataset)):
        gt = rng.random((3, 32, 40)) > 0.5
        pred = gt ^ (rng.random((3, 32, 40)) > 0.8)
        pred[2] = False  # an empty prediction counts too
        samples.append(_image_sample(pred, gt, f'img{i}.jpg'))
    metric = Evaluator(dict(type='ReferringSegMetric', metric=['cIoU', 'gIoU', 'mIoU']))
    metric.process([s.clone() for s in samples])
    expected = metric.evaluate(len(samples))
    out = tmp_path / 'preds.pkl'
    _dump_like_test_py(samples, out)
    got = main([IMAGE_CONFIG, str(out), '--cfg-options',
                f'test_dataloader.dataset.data_root={synthetic_refcoco}/'])
    assert got == pytest.approx(expected) and 0 < got['cIoU'] < 100


def test_errors_name_the_file(synthetic_refcoco, tmp_path, capsys):
    from tools.analysis_tools.eval_metric import main
    data = f'test_dataloader.dataset.data_root={synthetic_refcoco}/'
    with pytest.raises(SystemExit) as exc:
        main([IMAGE_CONFIG, str(tmp_path / 'missing.pkl'), '--cfg-options', data])
    assert exc.value.code == 2
    assert 'missing.pkl: no such predictions file' in capsys.readouterr().err

    not_a_list = tmp_path / 'dict.pkl'
    pickle.dump({'cIoU': 1.0}, open(not_a_list, 'wb'))
    with pytest.raises(SystemExit):
        main([IMAGE_CONFIG, str(not_a_list), '--cfg-options', data])
    assert 'dict.pkl: expected a list of per-sample dicts' in capsys.readouterr().err

    short = tmp_path / 'short.pkl'
    _dump_like_test_py([_image_sample(np.ones((1, 8, 8), bool), np.ones((1, 8, 8), bool),
                                      'x.jpg')], short)
    with pytest.raises(SystemExit):
        main([IMAGE_CONFIG, str(short), '--cfg-options', data])
    err = capsys.readouterr().err
    assert 'short.pkl holds 1 samples but the `test_dataloader.dataset`' in err

    with pytest.raises(SystemExit):
        main([IMAGE_CONFIG, str(short), '--cfg-options', 'test_evaluatr.metric=[cIoU]'])
    assert 'did you mean test_evaluator' in capsys.readouterr().err


def test_help_lists_mmdet_arguments(capsys):
    from tools.analysis_tools.eval_metric import parse_args
    with pytest.raises(SystemExit) as exc:
        parse_args(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(a in out for a in ('config', 'pkl_results', '--cfg-options', '--evaluator'))
