"""tools/env_check.py, setup.py's requirements and tools/setup_env.sh's torchvision rule.

Fake ``torchvision`` packages are written to a temporary folder put first on the path:
one raises what PyPI's CUDA-only wheel raises beside a CPU torch
(``RuntimeError: operator torchvision::nms does not exist`` from its op registrations;
its ``version.py`` says ``0.28.0+cu130``), one imports and is the build made for the
installed torch, one declares another torch. The decision then runs on them exactly as
the installer runs it: in this process (fast lane) and as ``python tools/env_check.py``
and ``bash tools/setup_env.sh`` subprocesses (slow).

``setup_env.sh`` is only run where it cannot install anything: a fake ``pip`` package is
first on ``PYTHONPATH`` too, so any ``python -m pip`` would run it, leave a marker file
and fail; every such test asserts the marker is absent.
"""
import importlib
import os
import os.path as osp
import re
import runpy
import subprocess
import sys
import textwrap
import time

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO_ROOT, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import env_check  # noqa: E402
from env_check import MmcvBuild, TorchBuild, TorchvisionBuild  # noqa: E402

TORCH = env_check.read_torch_build()
PYPI_NMS_ERROR = 'operator torchvision::nms does not exist'
CPU_TORCH = TorchBuild('2.13.0+cpu')
CUDA_TORCH = TorchBuild('2.7.1+cu128', cuda='12.8')


# ---------------------------------------------------------------------------- fakes

def _torch_label() -> str:
    return TORCH.version.partition('+')[2]


def _write_torchvision(root, *, version, init, cuda=None, requires_torch=None):
    """A ``torchvision`` package (``version.py`` as the wheels write it) and, when
    ``requires_torch`` is given, its ``dist-info`` declaring that torch requirement."""
    package = root / 'torchvision'
    package.mkdir(parents=True)
    version_py = f'__version__ = {version!r}\n'
    if cuda is not None:
        version_py += f'cuda = {cuda}\n'
    (package / 'version.py').write_text(version_py)
    (package / '__init__.py').write_text(textwrap.dedent(init))
    if requires_torch is not None:
        public = version.partition('+')[0]
        info = root / f'torchvision-{public}.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(
            f'Metadata-Version: 2.1\nName: torchvision\nVersion: {public}\n'
            f'Requires-Dist: numpy\nRequires-Dist: torch (=={requires_torch})\n'
            "Requires-Dist: scipy ; extra == 'scipy'\n")
    return str(root)


def pypi_cuda_torchvision(root):
    """What PyPI's CUDA torchvision 0.28 does beside a CPU torch 2.13 (measured)."""
    return _write_torchvision(
        root, version='0.28.0+cu130', requires_torch='2.13.0', init=f"""
            import torch
            from .version import __version__
            raise RuntimeError({PYPI_NMS_ERROR!r})
            """)


def matching_torchvision(root):
    """The torchvision release and build made for the installed torch."""
    public = env_check.expected_torchvision(TORCH.version)
    label = _torch_label()
    cuda = None
    if TORCH.cuda:
        major, minor = TORCH.cuda.split('.')[:2]
        cuda = int(major) * 1000 + int(minor) * 10
    return _write_torchvision(
        root, version=public + (f'+{label}' if label else ''), cuda=cuda,
        requires_torch=TORCH.version.partition('+')[0], init="""
            import torch
            from . import version
            from .version import __version__
            """)


def previous_release_torchvision(root):
    """A torchvision that imports but was made for the torch release before this one."""
    major, minor = TORCH.version.split('.')[:2]
    older_torch = f'{major}.{int(minor) - 1}.0'
    label = _torch_label()
    return _write_torchvision(
        root, version=env_check.expected_torchvision(older_torch) +
        (f'+{label}' if label else ''), requires_torch=older_torch, init="""
            from .version import __version__
            """), older_torch


@pytest.fixture
def on_path(monkeypatch):
    """Put a folder first on sys.path with no torchvision imported; afterwards drop the
    fake's modules and put back any real torchvision that was imported before."""
    def loaded():
        return [n for n in sys.modules if n == 'torchvision' or n.startswith('torchvision.')]

    for name in loaded():
        monkeypatch.delitem(sys.modules, name)  # restored when monkeypatch undoes

    def add(folder):
        monkeypatch.syspath_prepend(folder)
        importlib.invalidate_caches()
    yield add
    for name in loaded():
        del sys.modules[name]


# ------------------------------------------------------------------ torchvision: probes

def test_pypi_cuda_torchvision_beside_torch_is_refused(tmp_path, on_path):
    on_path(pypi_cuda_torchvision(tmp_path))
    tv = env_check.probe_torchvision()
    assert tv.version == '0.28.0+cu130'
    assert tv.import_error == f'RuntimeError: {PYPI_NMS_ERROR}'
    assert tv.torch_requirement == '==2.13.0'
    assert tv.location == str(tmp_path / 'torchvision')

    verdict = env_check.check_torchvision()
    assert not verdict.ok and verdict.status == 'incompatible'
    assert f'`import torchvision` fails: RuntimeError: {PYPI_NMS_ERROR}' in verdict.message
    assert 'pip uninstall -y torchvision' in verdict.message
    wanted = env_check.expected_torchvision(TORCH.version)
    assert f'pip install --no-deps torchvision=={wanted}' in verdict.message
    if TORCH.cuda is None:  # the case this fake reproduces: CPU torch
        assert 'it is a CUDA 13.0 build, torch is a CPU build' in verdict.message
        assert f'--index-url https://download.pytorch.org/whl/{_torch_label()}' \
            in verdict.message


def test_matching_torchvision_is_kept(tmp_path, on_path):
    on_path(matching_torchvision(tmp_path))
    tv = env_check.probe_torchvision()
    assert tv.import_error is None
    assert tv.torch_requirement == '==' + TORCH.version.partition('+')[0]
    assert tv.cuda == (TORCH.cuda and '.'.join(TORCH.cuda.split('.')[:2]))
    verdict = env_check.check_torchvision()
    assert verdict.ok and verdict.status == 'compatible', verdict.message
    assert verdict.message.endswith(': kept')
    assert f'matches torch {TORCH.version}' in verdict.message


def test_torchvision_for_another_torch_release_is_refused(tmp_path, on_path):
    folder, older_torch = previous_release_torchvision(tmp_path)
    on_path(folder)
    verdict = env_check.check_torchvision()
    assert not verdict.ok
    assert f'it requires torch=={older_torch}, but torch {TORCH.version} is installed' \
        in verdict.message
    assert '`import torchvision` fails' not in verdict.message  # it imports fine


def test_no_torchvision_is_accepted():
    for torch in (TORCH, CPU_TORCH, CUDA_TORCH, None):
        verdict = env_check.decide_torchvision(torch, None)
        assert (verdict.ok, verdict.status) == (True, 'absent')
        assert verdict.message == ('torchvision: not installed (desa2va_mm does not need '
                                   'it)')


# --------------------------------------------------------------- torchvision: decisions

@pytest.mark.parametrize('torch, tv, ok, reason', [
    # the build made for the torch: CUDA, CPU, PyPI's unlabelled default, conda's
    (CUDA_TORCH, TorchvisionBuild('0.22.1+cu128', cuda='12.8', torch_requirement='==2.7.1'),
     True, None),
    (CPU_TORCH, TorchvisionBuild('0.28.0+cpu', torch_requirement='==2.13.0'), True, None),
    (TorchBuild('2.7.1', cuda='12.6'), TorchvisionBuild('0.22.1', cuda='12.6'), True, None),
    # a CUDA 12.4 torchvision beside CUDA 12.8 torch: same major, torchvision accepts it
    (CUDA_TORCH, TorchvisionBuild('0.22.1+cu124', cuda='12.4'), True, None),
    # CPU torchvision beside CUDA torch: imports, but its ops have no CUDA kernels
    (CUDA_TORCH, TorchvisionBuild('0.22.1+cpu', torch_requirement='==2.7.1'), False,
     'it is a CPU build, torch is a CUDA 12.8 build'),
    # CUDA 11 torchvision beside CUDA 12 torch
    (CUDA_TORCH, TorchvisionBuild('0.22.1+cu118'), False,
     'it is built for CUDA 11.8, torch for CUDA 12.8'),
    # no metadata (a source tree): the release tells; 0.21 is torch 2.6's
    (CUDA_TORCH, TorchvisionBuild('0.21.0', cuda='12.8'), False,
     'it is the release for another torch (torch 2.7.1+cu128 goes with torchvision 0.22.1)'),
    (CUDA_TORCH, TorchvisionBuild('0.22.0', cuda='12.8'), True, None),
])
def test_decide_torchvision(torch, tv, ok, reason):
    verdict = env_check.decide_torchvision(torch, tv)
    assert verdict.ok is ok, verdict.message
    if reason:
        assert f'  - {reason}' in verdict.message
        assert verdict.message.startswith(f'torchvision {tv.version} does not match '
                                          f'torch {torch.version}')


def test_fix_names_the_index_of_the_torch_build():
    bad = TorchvisionBuild('0.28.0+cu130', import_error=f'RuntimeError: {PYPI_NMS_ERROR}')
    cpu = env_check.decide_torchvision(CPU_TORCH, bad).message
    assert cpu.endswith('pip install --no-deps torchvision==0.28.0 '
                        '--index-url https://download.pytorch.org/whl/cpu')
    # PyPI's torch has no local label: its torchvision is PyPI's too (no --index-url)
    pypi = env_check.decide_torchvision(TorchBuild('2.13.0', cuda='13.0'), TorchvisionBuild(
        '0.27.0', cuda='13.0', torch_requirement='==2.12.0')).message
    assert 'it requires torch==2.12.0, but torch 2.13.0 is installed' in pypi
    assert pypi.endswith('pip install --no-deps torchvision==0.28.0')


def test_torchvision_without_torch_is_refused():
    verdict = env_check.decide_torchvision(
        None, TorchvisionBuild('0.28.0+cu130', torch_requirement='==2.13.0'))
    assert not verdict.ok
    assert 'is installed but torch is not' in verdict.message
    assert '(torch==2.13.0)' in verdict.message
    assert 'pip uninstall -y torchvision' in verdict.message


@pytest.mark.parametrize('torch_version, expected', [
    ('2.13.0+cpu', '0.28.0'), ('2.7.1+cu128', '0.22.1'), ('2.6.0', '0.21.0'),
    ('1.13.1', None)])
def test_expected_torchvision(torch_version, expected):
    assert env_check.expected_torchvision(torch_version) == expected


# -------------------------------------------------------------------------- mmcv build

def test_mmcv_build_decision():
    cpu = env_check.decide_mmcv_build(CPU_TORCH, '/usr/local/cuda/bin/nvcc', '13.0')
    assert (cpu.mode, cpu.warning) == ('cpu', None)  # nvcc alone does not make CUDA ops
    assert cpu.reason == 'torch 2.13.0+cpu is a CPU build'

    cuda = env_check.decide_mmcv_build(CUDA_TORCH, '/usr/local/cuda/bin/nvcc', '12.9')
    assert (cuda.mode, cuda.warning) == ('cuda', None)
    assert 'nvcc 12.9 is at /usr/local/cuda/bin/nvcc' in cuda.reason

    no_nvcc = env_check.decide_mmcv_build(CUDA_TORCH, None, None)
    assert no_nvcc.mode == 'cpu'
    assert 'nvcc was not found' in no_nvcc.warning
    assert 'install a CUDA 12.x toolkit' in no_nvcc.warning
    assert 'FORCE=1 bash tools/setup_env.sh' in no_nvcc.warning

    other_major = env_check.decide_mmcv_build(CUDA_TORCH, '/opt/cuda-13/bin/nvcc', '13.0')
    assert other_major.mode == 'cpu'
    assert 'nvcc 13.0 at /opt/cuda-13/bin/nvcc cannot build extensions' in other_major.warning


def test_find_nvcc_follows_cuda_home(tmp_path, monkeypatch):
    (tmp_path / 'bin').mkdir()
    (tmp_path / 'bin' / 'nvcc').write_text('')
    monkeypatch.setenv('CUDA_HOME', str(tmp_path))
    assert env_check.find_nvcc() == str(tmp_path / 'bin' / 'nvcc')
    monkeypatch.setenv('CUDA_HOME', str(tmp_path / 'missing'))
    assert env_check.find_nvcc() is None  # a CUDA_HOME without nvcc is not overridden


def test_installed_mmcv_has_ops_for_this_machine():
    build = env_check.check_mmcv_build()
    assert env_check.mmcv_ops_problem(build.mode) is None


def test_mmcv_without_ops_is_reported(tmp_path, monkeypatch):
    (tmp_path / 'mmcv').mkdir()
    (tmp_path / 'mmcv' / '__init__.py').write_text('')
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [n for n in sys.modules if n == 'mmcv' or n.startswith('mmcv.')]:
        monkeypatch.delitem(sys.modules, name)
    importlib.invalidate_caches()
    problem = env_check.mmcv_ops_problem('cpu')
    assert problem.startswith(f'mmcv at {tmp_path / "mmcv"} has no compiled ops')
    assert 'MMCV_WITH_OPS=1' in problem


# ---------------------------------------------------------------------------- setup.py

def _setup_lists():
    return runpy.run_path(osp.join(REPO_ROOT, 'setup.py'), run_name='setup_lists')


def _requirement(spec):
    from packaging.requirements import Requirement
    return Requirement(spec)


def test_setup_declares_ranges_and_mmseg_only_as_extra():
    lists = _setup_lists()
    core = {r.name: r for r in map(_requirement, lists['INSTALL_REQUIRES'] +
                                   lists['PREREQUISITES'])}
    for name in ('torch', 'mmcv', 'mmengine', 'mmdet', 'transformers', 'peft', 'sam2'):
        spec = core[name].specifier
        ops = {s.operator for s in spec}
        assert ops == {'>=', '<'}, f'{name}: {spec} should be a range, not a pin'
    assert 'mmsegmentation' not in core
    installed_by_pip = {_requirement(r).name for r in lists['INSTALL_REQUIRES']}
    # pip would build these wrongly (mmcv without ops, sam2 pulling torchvision)
    assert not installed_by_pip & {'torch', 'torchvision', 'mmcv', 'sam2'}
    extras = lists['EXTRAS_REQUIRE']
    assert [_requirement(r).name for r in extras['mmseg']][0] == 'mmsegmentation'
    assert all('==' not in r for group in extras.values() for r in group)


def test_setup_env_pins_lie_inside_setup_ranges():
    """The versions the installer puts in (and the suite runs with) satisfy setup.py."""
    script = open(osp.join(TOOLS, 'setup_env.sh'), encoding='utf-8').read()
    pins = dict(re.findall(r'^([A-Z0-9]+)_VERSION=\$?\{?[A-Z_]*:?-?([0-9][0-9.]*)\}?$',
                           script, re.M))
    lists = _setup_lists()
    every = {}
    for spec in lists['INSTALL_REQUIRES'] + lists['PREREQUISITES'] + \
            [r for group in lists['EXTRAS_REQUIRE'].values() for r in group]:
        req = _requirement(spec)
        every.setdefault(req.name, req)
    names = {'TORCH': 'torch', 'MMCV': 'mmcv', 'MMENGINE': 'mmengine', 'MMDET': 'mmdet',
             'MMSEG': 'mmsegmentation', 'SAM2': 'sam2', 'TRANSFORMERS': 'transformers',
             'PEFT': 'peft', 'DEEPSPEED': 'deepspeed'}
    assert set(names) <= set(pins), f'setup_env.sh pins found: {pins}'
    for var, name in names.items():
        assert every[name].specifier.contains(pins[var]), \
            f'setup_env.sh installs {name} {pins[var]}, outside setup.py\'s {every[name]}'


# ------------------------------------------------------------------- CLI (subprocesses)

def _env(*paths, **extra):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(list(paths) + [env.get('PYTHONPATH', '')]).rstrip(
        os.pathsep)
    env.update(extra)
    return env


def _fake_pip(root, exit_code=97):
    """A ``pip`` package that records each ``python -m pip`` call (with the build
    variables the installer sets) and exits with ``exit_code``: nothing is installed."""
    package = root / 'pip'
    package.mkdir(parents=True)
    (package / '__init__.py').write_text('')
    marker = root / 'pip_was_called'
    (package / '__main__.py').write_text(textwrap.dedent(f"""
        import os, sys
        build = ' '.join(f'{{k}}={{os.environ[k]}}' for k in
                         ('MMCV_WITH_OPS', 'FORCE_CUDA', 'SAM2_BUILD_CUDA', 'DS_BUILD_OPS')
                         if k in os.environ)
        with open({str(marker)!r}, 'a') as f:
            f.write(build + ' | ' + ' '.join(sys.argv[1:]) + '\\n')
        sys.exit({exit_code})
        """))
    return str(root), marker


def _fake_cuda_torch(root):
    """A torch 2.7.1+cu128 (its ``version.py`` as the wheel has it), the torchvision made
    for it, and ``CUDA_HOME`` with an nvcc that reports release 12.8."""
    torch = root / 'torch'
    torch.mkdir(parents=True)
    (torch / 'version.py').write_text("__version__ = '2.7.1+cu128'\ncuda = '12.8'\n"
                                      'hip = None\n')
    (torch / '__init__.py').write_text('from . import version\n'
                                       "__version__ = '2.7.1+cu128'\n")
    _write_torchvision(root, version='0.22.1+cu128', cuda=12080, requires_torch='2.7.1',
                       init='from .version import __version__\n')
    nvcc = root / 'cuda' / 'bin' / 'nvcc'
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text('#!/bin/sh\necho "Cuda compilation tools, release 12.8, V12.8.93"\n')
    nvcc.chmod(0o755)
    return str(root), str(root / 'cuda')


@pytest.mark.slow
def test_cli_help_and_verdicts(tmp_path):
    run = dict(capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    cli = [sys.executable, osp.join(TOOLS, 'env_check.py')]
    for sub in ([], ['torchvision'], ['mmcv-build'], ['mmcv-ops']):
        out = subprocess.run(cli + sub + ['--help'], **run)
        assert out.returncode == 0 and 'usage: env_check.py' in out.stdout

    bad = subprocess.run(cli + ['torchvision'],
                         env=_env(pypi_cuda_torchvision(tmp_path / 'bad')), **run)
    assert bad.returncode == 1
    assert f'`import torchvision` fails: RuntimeError: {PYPI_NMS_ERROR}' in bad.stderr
    assert 'pip uninstall -y torchvision' in bad.stderr

    good = subprocess.run(cli + ['torchvision'],
                          env=_env(matching_torchvision(tmp_path / 'good')), **run)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().endswith(': kept')

    build = subprocess.run(cli + ['mmcv-build'], **run)
    assert build.returncode == 0
    assert build.stdout.strip() == env_check.check_mmcv_build().mode
    if TORCH.cuda is None:
        assert f'mmcv ops: cpu (torch {TORCH.version} is a CPU build)' in build.stderr


@pytest.mark.slow
def test_nvcc_release_from_a_real_executable(tmp_path):
    nvcc = tmp_path / 'nvcc'
    nvcc.write_text('#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler driver"\n'
                    'echo "Cuda compilation tools, release 12.8, V12.8.93"\n')
    nvcc.chmod(0o755)
    assert env_check.nvcc_release(str(nvcc)) == '12.8'
    assert env_check.nvcc_release(str(tmp_path / 'absent')) is None


@pytest.mark.slow
def test_setup_env_refuses_mismatched_torchvision_before_any_pip(tmp_path):
    pip_root, marker = _fake_pip(tmp_path / 'pip')
    out = subprocess.run(
        ['bash', osp.join(TOOLS, 'setup_env.sh')], capture_output=True, text=True,
        env=_env(pypi_cuda_torchvision(tmp_path / 'tv'), pip_root), timeout=300)
    assert not marker.exists(), f'setup_env.sh ran pip: {marker.read_text()}'
    assert out.returncode != 0
    assert f'torchvision 0.28.0+cu130 at {tmp_path / "tv" / "torchvision"}' in out.stderr
    assert PYPI_NMS_ERROR in out.stderr
    assert 'pip uninstall -y torchvision' in out.stderr


@pytest.mark.slow
def test_setup_env_fast_path_keeps_matching_torchvision(tmp_path):
    pip_root, marker = _fake_pip(tmp_path / 'pip')
    start = time.perf_counter()
    out = subprocess.run(
        ['bash', osp.join(TOOLS, 'setup_env.sh')], capture_output=True, text=True,
        env=_env(matching_torchvision(tmp_path / 'tv'), pip_root), timeout=300)
    seconds = time.perf_counter() - start
    assert not marker.exists(), (
        'the environment is incomplete (setup_env.sh went past its fast path and ran '
        f'pip {marker.read_text()!r}); run bash tools/setup_env.sh first')
    assert out.returncode == 0, out.stderr
    assert '[setup_env] environment already complete' in out.stdout
    assert 'torchvision' in out.stdout and 'kept' in out.stdout
    assert seconds < 20, f'fast path took {seconds:.1f} s'


@pytest.mark.slow
def test_setup_env_builds_mmcv_cuda_ops_for_cuda_torch_with_nvcc(tmp_path):
    """The CUDA branch up to the mmcv build, with a recording pip that installs nothing:
    the fake torch cannot load the real CPU-ops mmcv, so the installer rebuilds it with
    CUDA ops, then stops because the (unchanged) ops are still not CUDA ones."""
    pip_root, pip_log = _fake_pip(tmp_path / 'pip', exit_code=0)
    torch_root, cuda_home = _fake_cuda_torch(tmp_path / 'cuda_torch')
    out = subprocess.run(
        ['bash', osp.join(TOOLS, 'setup_env.sh')], capture_output=True, text=True,
        env=_env(torch_root, pip_root, CUDA_HOME=cuda_home), timeout=300)
    calls = pip_log.read_text().splitlines()
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'torchvision 0.22.1+cu128 matches torch 2.7.1+cu128 (CUDA 12.8): kept' in out.stdout
    assert '[setup_env] keeping existing torch 2.7.1+cu128' in out.stdout
    assert (f'mmcv ops: cuda (torch 2.7.1+cu128 is a CUDA 12.8 build and nvcc 12.8 is at '
            f'{cuda_home}/bin/nvcc)') in out.stderr
    assert len(calls) == 2, calls  # build tools, then mmcv; nothing touches torchvision
    assert calls[0].endswith('setuptools>=77,<82 wheel ninja')
    build, _, args = calls[1].partition(' | ')
    assert build == 'MMCV_WITH_OPS=1 FORCE_CUDA=1'
    assert args.split()[-5:] == ['--no-build-isolation', '--force-reinstall', '--no-deps',
                                 '--no-cache-dir', 'mmcv==2.1.0']
    assert 'mmcv 2.1.0 was built but its cuda ops are missing' in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize('with_mmseg', [False, True])
def test_setup_env_forced_run_installs_mmseg_only_on_request(tmp_path, with_mmseg):
    """``FORCE=1`` walks every step here (CPU torch, mmcv with ops present) with a
    recording pip: what it would install, and that mmsegmentation needs WITH_MMSEG=1."""
    pip_root, pip_log = _fake_pip(tmp_path / 'pip', exit_code=0)
    env = _env(pip_root, FORCE='1', WITH_MMSEG='1' if with_mmseg else '0')
    out = subprocess.run(['bash', osp.join(TOOLS, 'setup_env.sh')], capture_output=True,
                         text=True, env=env, timeout=300)
    calls = pip_log.read_text()
    assert out.returncode == 0, out.stdout + out.stderr
    assert '[setup_env] done' in out.stdout
    assert 'torchvision' not in calls  # never installed
    assert ('mmsegmentation==1.2.2 ftfy regex' in calls) is with_mmseg
    assert 'transformers==5.24.0' in calls and 'mmdet==3.3.0' in calls
    assert 'mmcv==' not in calls  # its ops are present: no rebuild
    assert '--no-build-isolation --no-deps -e .' in calls
