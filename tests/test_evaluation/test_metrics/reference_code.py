"""Import a module of an original evaluator from a copy fetched outside the repository.

Tests that compare a metric with the original evaluator's own function call
:func:`reference_module`; it reads the file from ``$DESA2VA_REFERENCE_CODE``, a folder
holding either checkouts (``<owner>/<name>/<path>``) or bare mirrors
(``<owner>+<name>/repo``, read with ``git show HEAD:<path>``), and skips the test when the
variable is unset or the file is absent. Nothing of the original code is kept in the
repository.
"""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import types
from typing import Dict, Optional

import pytest

ENV_VAR = 'DESA2VA_REFERENCE_CODE'


def _source(repo: str, path: str) -> Optional[str]:
    root = os.environ.get(ENV_VAR)
    if not root:
        return None
    owner, name = repo.split('/')
    checkout = osp.join(root, owner, name, path)
    if osp.isfile(checkout):
        with open(checkout, encoding='utf-8') as f:
            return f.read()
    git_dir = osp.join(root, f'{owner}+{name}', 'repo')
    if osp.isdir(git_dir):
        done = subprocess.run(['git', '--git-dir', git_dir, 'show', f'HEAD:{path}'],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout
    return None


def reference_source(repo: str, path: str) -> str:
    """The text of ``path`` in GitHub ``repo``, or skip the calling test."""
    text = _source(repo, path)
    if text is None:
        pytest.skip(f'{repo}:{path} not found under ${ENV_VAR} (set it to a folder of '
                    'fetched reference repositories to compare with the original code)')
    return text


def reference_module(repo: str, path: str, tmp_dir: str,
                     stubs: Optional[Dict[str, types.ModuleType]] = None,
                     siblings: Dict[str, str] = None) -> types.ModuleType:
    """Load ``path`` of GitHub ``repo`` as a module, or skip the calling test.

    Args:
        repo: ``owner/name``.
        path: File inside the repository.
        tmp_dir: Where the copy is written (a pytest ``tmp_path``).
        stubs: Modules to place in ``sys.modules`` for imports the tested function never
            uses (left in place only while the module is imported).
        siblings: ``{module name: path}`` of other files of the repository that ``path``
            imports by bare name (written beside it).
    """
    text = reference_source(repo, path)
    for mod_name, sib_path in (siblings or {}).items():
        sib = reference_source(repo, sib_path)
        with open(osp.join(tmp_dir, mod_name + '.py'), 'w', encoding='utf-8') as f:
            f.write(sib)
    file = osp.join(tmp_dir, 'reference_' + osp.basename(path))
    with open(file, 'w', encoding='utf-8') as f:
        f.write(text)
    saved = {k: sys.modules.get(k) for k in (stubs or {})}
    sys.modules.update(stubs or {})
    sys.path.insert(0, tmp_dir)
    try:
        spec = importlib.util.spec_from_file_location(
            'reference_' + osp.splitext(osp.basename(path))[0], file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(tmp_dir)
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
        for mod_name in (siblings or {}):
            sys.modules.pop(mod_name, None)
    return module
