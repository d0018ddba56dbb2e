"""Result files are written to a temporary file and renamed: an interrupted writer never
leaves a half-written file under the final name (``tools/test.py --out`` included)."""
import os
import os.path as osp
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest

from desa2va_mm.utils.atomic_io import atomic_dump, atomic_open

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_exception_mid_write_keeps_previous_file(tmp_path):
    path = tmp_path / 'results.json'
    atomic_dump({'cIoU': 1.0}, str(path))
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(str(path)) as f:
            f.write('{"cIoU": 0.')
            raise KeyboardInterrupt
    with open(path) as f:
        assert f.read() == '{"cIoU": 1.0}'
    assert os.listdir(tmp_path) == ['results.json']  # temp file removed


def test_atomic_dump_formats(tmp_path):
    for name in ('a.pkl', 'a.pickle', 'a.json', 'a.yaml'):
        atomic_dump(dict(x=[1, 2]), str(tmp_path / 'sub' / name))
    with open(tmp_path / 'sub' / 'a.pkl', 'rb') as f:
        assert pickle.load(f) == dict(x=[1, 2])
    with pytest.raises(ValueError, match='unsupported format'):
        atomic_dump(1, str(tmp_path / 'a.txt'))
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_open(str(tmp_path / 'b'), 'a'):
            pass


_KILLED_WRITER = textwrap.dedent('''
    import importlib.util, sys, time
    # the module alone (stdlib only): no 20 s import of the whole package
    spec = importlib.util.spec_from_file_location('atomic_io', sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    atomic_open = module.atomic_open
    with atomic_open(sys.argv[2], 'wb') as f:
        f.write(b'x' * 1000)
        f.flush()
        print('WRITING', flush=True)
        time.sleep(60)  # killed here
        f.write(b'y')
''')


def test_killed_writer_leaves_no_file(tmp_path):
    """SIGKILL in the middle of a write: the final name never appears (only a hidden
    ``.name.*.tmp``), and a re-run produces the complete file."""
    script = tmp_path / 'writer.py'
    script.write_text(_KILLED_WRITER)
    target = tmp_path / 'preds.pkl'
    atomic_io = osp.join(REPO_ROOT, 'desa2va_mm', 'utils', 'atomic_io.py')
    proc = subprocess.Popen([sys.executable, str(script), atomic_io, str(target)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'WRITING'
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith('.preds.pkl.')]
    assert len(leftovers) == 1 and leftovers[0].endswith('.tmp')
    atomic_dump([1, 2, 3], str(target))
    with open(target, 'rb') as f:
        assert pickle.load(f) == [1, 2, 3]


def test_test_tool_out_interrupted_then_rerun(tmp_path, monkeypatch):
    """tools/test.py --out: interrupted while dumping -> no preds.pkl; re-run -> complete."""
    sys.path.insert(0, osp.join(REPO_ROOT, 'tests', 'test_tools'))
    try:
        from test_train_test_tools import TEST, TOY_CONFIG, TRAIN, _run_tool
    finally:
        sys.path.pop(0)
    _run_tool(TRAIN, TOY_CONFIG, '--work-dir', tmp_path / 'train', '--cfg-options',
              'train_cfg.max_iters=1', 'train_cfg.val_interval=5',
              'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.save_best=None')
    ckpt = tmp_path / 'train' / 'iter_1.pth'
    out = tmp_path / 'preds.pkl'

    import mmengine
    real_dump = mmengine.dump

    def dump_then_die(obj, file=None, **kwargs):
        file.write(pickle.dumps(obj)[:50])  # half the pickle reaches the disk
        file.flush()
        raise KeyboardInterrupt('killed while writing --out')

    monkeypatch.setattr(mmengine, 'dump', dump_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run_tool(TEST, TOY_CONFIG, ckpt, '--work-dir', tmp_path / 't1', '--out', out)
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    monkeypatch.setattr(mmengine, 'dump', real_dump)
    _run_tool(TEST, TOY_CONFIG, ckpt, '--work-dir', tmp_path / 't2', '--out', out)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 16
