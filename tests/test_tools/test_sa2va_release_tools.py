"""Sa2VA release folders through the tools.

* ``tools/model_converters/sa2va_baseline_to_hf.py``: config + checkpoint -> release folder;
* ``tools/test.py CONFIG RELEASE_FOLDER``: converted in memory, the same predictions as the
  two-step route (``sa2va_to_desa2va.py`` to a ``.pth``, then ``tools/test.py``).
"""
import json
import os
import os.path as osp
import pickle
import runpy
import sys

import pytest
import torch

from conftest import REPO_ROOT, load_tiny_cfg

EXPORT = osp.join(REPO_ROOT, 'tools/model_converters/sa2va_baseline_to_hf.py')
TEST = osp.join(REPO_ROOT, 'tools/test.py')
TINY = osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py')


def _tiny_checkpoint(tmp_path):
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    cfg = load_tiny_cfg()
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith('seg_head.'):
                p.add_(torch.randn_like(p) * 0.05)
    path = str(tmp_path / 'iter_1.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model, path


def test_export_cli_help(capsys):
    from tools.model_converters.sa2va_baseline_to_hf import parse_args
    with pytest.raises(SystemExit) as exc:
        parse_args(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(f in out for f in ('config', 'checkpoint', 'out', '--sa2va-code',
                                  '--max-shard-size', '--cfg-options'))


@pytest.mark.slow
def test_export_cli_writes_a_release_that_loads_back(tmp_path):
    from mmengine.registry import DefaultScope
    from safetensors.torch import load_file

    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils.sa2va_release import is_sa2va_release, load_sa2va_release
    from tools.model_converters.sa2va_baseline_to_hf import main
    model, ckpt = _tiny_checkpoint(tmp_path)
    code = tmp_path / 'sa2va_code'
    code.mkdir()
    for name in ('configuration_sa2va_chat.py', 'modeling_sa2va_chat.py', 'sam2.py'):
        (code / name).write_text('# stand-in for a file of Sa2VA\'s checkout\n')
    out = str(tmp_path / 'release')
    info = main([TINY, ckpt, out, '--sa2va-code', str(code)])
    assert is_sa2va_release(out)
    assert {'modeling_sa2va_chat.py', 'sam2.py', 'model.safetensors'} <= set(os.listdir(out))
    config = json.load(open(osp.join(out, 'config.json')))
    assert config['auto_map']['AutoModel'] == 'modeling_sa2va_chat.Sa2VAChatModel'
    assert info['num_tensors'] == len(load_file(osp.join(out, 'model.safetensors')))
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        fresh = MODELS.build(load_tiny_cfg().model)
    load_sa2va_release(fresh, out)
    assert torch.equal(fresh.seg_head.mask_head.decoder.iou_token.weight,
                       model.seg_head.mask_head.decoder.iou_token.weight)


def test_export_cli_refuses_a_desa2va_config(tmp_path):
    from tools.model_converters.sa2va_baseline_to_hf import main
    with pytest.raises(SystemExit, match="DecoupledSegHead.*desa2va_to_hf.py"):
        main([osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_decouple.py'), 'x.pth',
              str(tmp_path / 'out')])


def _run_test_tool(*argv):
    saved_argv, saved_env = sys.argv, dict(os.environ)
    os.environ.pop('LOCAL_RANK', None)
    sys.argv = [TEST, *map(str, argv)]
    try:
        runpy.run_path(TEST, run_name='__main__')
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)


@pytest.mark.slow
def test_test_tool_takes_a_release_folder(synthetic_refcoco, tmp_path):
    from tools.model_converters.sa2va_baseline_to_hf import main as export
    from tools.model_converters.sa2va_to_desa2va import main as convert
    _, ckpt = _tiny_checkpoint(tmp_path)
    release = str(tmp_path / 'release')
    export([TINY, ckpt, release])
    data = [f'test_dataloader.dataset.data_root={synthetic_refcoco}/',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    # One step: the folder is the checkpoint.
    _run_test_tool(TINY, release, '--work-dir', tmp_path / 'one', '--out',
                   tmp_path / 'one.pkl', '--cfg-options', *data, 'experiment_name=one')
    # Two steps: convert to a .pth, then test it.
    converted = str(tmp_path / 'converted.pth')
    convert([release, converted, '--config', TINY])
    _run_test_tool(TINY, converted, '--work-dir', tmp_path / 'two', '--out',
                   tmp_path / 'two.pkl', '--cfg-options', *data, 'experiment_name=two')
    one = pickle.load(open(tmp_path / 'one.pkl', 'rb'))
    two = pickle.load(open(tmp_path / 'two.pkl', 'rb'))
    assert len(one) == len(two) > 0
    for a, b in zip(one, two):
        # Masks are dumped as COCO RLEs.
        assert a['pred_instances']['masks'] == b['pred_instances']['masks']
        assert torch.equal(a['pred_instances']['scores'], b['pred_instances']['scores'])
        assert a['pred_answers'] == b['pred_answers']
    logs = ''.join(open(osp.join(r, f)).read() for r, _, fs in os.walk(tmp_path / 'one')
                   for f in fs if f.endswith('.log'))
    assert f'Loaded Sa2VA release {release}: 508 tensors' in logs


def test_test_tool_names_a_folder_that_is_no_release(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _run_test_tool(TINY, tmp_path)
    assert exc.value.code == 2
    assert 'a folder must be a Sa2VA release' in capsys.readouterr().err


@pytest.mark.slow
def test_inferencer_takes_a_release_folder(tmp_path):
    """DeSa2VAInferencer(config, weights=RELEASE) predicts what the checkpoint predicts."""
    import numpy as np

    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.utils.sa2va_release import export_sa2va_release
    model, ckpt = _tiny_checkpoint(tmp_path)
    release = str(tmp_path / 'release')
    export_sa2va_release(model.eval(), release)
    image = np.random.default_rng(0).integers(0, 255, (96, 120, 3), dtype=np.uint8)
    texts = ['the red circle']
    ours = DeSa2VAInferencer(TINY, ckpt, device='cpu', show_progress=False)
    from_release = DeSa2VAInferencer(TINY, release, device='cpu', show_progress=False)
    a = ours(image, texts=texts, no_save_pred=True)['predictions'][0]
    b = from_release(image, texts=texts, no_save_pred=True)['predictions'][0]
    assert a['answers'] == b['answers']
    assert np.array_equal(np.asarray(a['masks']), np.asarray(b['masks']))
    with pytest.raises(FileNotFoundError, match='a folder must be a Sa2VA release'):
        DeSa2VAInferencer(TINY, str(tmp_path), device='cpu')
