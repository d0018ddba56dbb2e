"""``desa2va_mm.synthetic`` is light: NumPy, OpenCV and pycocotools only.

Checked twice: statically (every import of the package's files, fast) and at run time in
a fresh interpreter that imports the package and writes a tiny RefCOCO and MeViS set
(slow lane: a subprocess).
"""
import ast
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = osp.join(REPO_ROOT, 'desa2va_mm', 'synthetic')
THIRD_PARTY = {'numpy', 'cv2', 'pycocotools'}
#: Imported inside a function, only when that writer runs: PyAV encodes SA-V's H.264 mp4s
#: (OpenCV's wheels write no H.264).
DEFERRED = {'sav_writer.py': {'av'}}


def _names(nodes):
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split('.')[0])
    return names


def _absolute_imports(path, deferred=True):
    """Top-level names of the absolute imports of a file (relative ones stay inside).

    With ``deferred=False`` only the imports run when the module is imported (those not
    inside a function body).
    """
    tree = ast.parse(open(path, encoding='utf-8').read(), path)
    nodes = set(ast.walk(tree))
    if not deferred:
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nodes -= set(ast.walk(func))
    names = _names(nodes)
    return names


def test_package_files_import_only_the_standard_library_numpy_cv2_pycocotools():
    files = sorted(glob.glob(osp.join(PACKAGE, '*.py')))
    assert len(files) >= 10
    allowed = set(sys.stdlib_module_names) | THIRD_PARTY
    offending = {osp.basename(f): sorted(
        _absolute_imports(f) - allowed - DEFERRED.get(osp.basename(f), set())) for f in files}
    assert {k: v for k, v in offending.items() if v} == {}
    # What is allowed only deferred is not imported with the module.
    for name, deferred in DEFERRED.items():
        assert not _absolute_imports(osp.join(PACKAGE, name), deferred=False) & deferred, name
    # The word lists are read by the tokenizer: standard library only.
    assert _absolute_imports(osp.join(PACKAGE, 'vocabulary.py')) <= set(sys.stdlib_module_names)


@pytest.mark.slow
def test_importing_and_running_it_loads_no_torch_mmengine_or_other_subpackage(tmp_path):
    code = """
import json, sys
from desa2va_mm.synthetic import make_synthetic_mevis, make_synthetic_refcoco
make_synthetic_refcoco(sys.argv[1] + '/refcoco', num_images=2, seed=0)
make_synthetic_mevis(sys.argv[1] + '/mevis', num_videos=2, num_frames=2, seed=0)
print(json.dumps(dict(
    heavy=[m for m in ('torch', 'mmengine', 'mmdet', 'mmcv', 'transformers')
           if m in sys.modules],
    ours=sorted(m for m in sys.modules if m.startswith('desa2va_mm')
                and not m.startswith('desa2va_mm.synthetic.')))))
"""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == dict(heavy=[], ours=['desa2va_mm', 'desa2va_mm.synthetic',
                                       'desa2va_mm.version'])
    assert osp.isfile(tmp_path / 'refcoco' / 'refcoco' / 'instances.json')
    assert osp.isfile(tmp_path / 'mevis' / 'train' / 'meta_expressions.json')
