"""Checks ``tools/setup_env.sh`` runs before it installs anything.

    python tools/env_check.py torchvision   # is the installed torchvision usable beside torch?
    python tools/env_check.py mmcv-build    # prints how mmcv's ops are built here: cuda or cpu
    python tools/env_check.py mmcv-ops      # are the installed mmcv's compiled ops what that
                                            # build gives (and do they load)?

Exit status: 0 fine, 1 refused or missing (the reason and the fix on stderr).

torchvision is optional for desa2va_mm (nothing here imports it), so an existing one is
kept when it matches torch: it imports, it declares the torch that is installed, and it
was built for the same device (CPU, or the same CUDA major). One that does not match is
refused: PyPI's CUDA-only torchvision beside a CPU torch fails on import with
``RuntimeError: operator torchvision::nms does not exist``, and transformers imports
torchvision whenever it is installed, so ``InternVLForConditionalGeneration`` and the
image processors fail to import too.

Only the standard library is imported up front: torch's build is read from
``torch/version.py`` without importing torch, so the installer's fast path stays at about
two seconds.
"""
import argparse
import ast
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

# Torch 2.B.C ships with torchvision 0.(B + 15).C (2.7.1 <-> 0.22.1, 2.13.0 <-> 0.28.0).
TORCHVISION_MINOR_OFFSET = 15
PYTORCH_INDEX = 'https://download.pytorch.org/whl'


@dataclass(frozen=True)
class TorchBuild:
    """The installed torch, as ``torch/version.py`` describes it.

    Args:
        version: ``torch.__version__``, e.g. ``'2.13.0+cpu'`` or ``'2.7.1+cu128'``.
        cuda: ``torch.version.cuda`` (``'12.8'``), None for a CPU or ROCm build.
        hip: ``torch.version.hip``, None unless a ROCm build.
    """
    version: str
    cuda: Optional[str] = None
    hip: Optional[str] = None


@dataclass(frozen=True)
class TorchvisionBuild:
    """An installed torchvision, as found on ``sys.path``.

    Args:
        version: Its ``__version__`` (``'0.28.0+cu130'``), read without importing it when
            the import fails.
        location: The package folder.
        cuda: ``torchvision.version.cuda`` as ``'12.8'`` (the module stores 12080) when it
            imported with its CUDA ops, else None.
        torch_requirement: What its metadata requires of torch (``'==2.13.0'``), None when
            it has no metadata (a source tree on ``PYTHONPATH``).
        import_error: ``'RuntimeError: ...'`` when ``import torchvision`` raised.
    """
    version: Optional[str]
    location: Optional[str] = None
    cuda: Optional[str] = None
    torch_requirement: Optional[str] = None
    import_error: Optional[str] = None


@dataclass(frozen=True)
class Verdict:
    """Whether the installer may go on, and the message that says why.

    Args:
        ok: False refuses the environment.
        status: ``'absent'``, ``'compatible'`` or ``'incompatible'``.
        message: One line when ok; the reasons and the fix otherwise.
    """
    ok: bool
    status: str
    message: str


@dataclass(frozen=True)
class MmcvBuild:
    """How ``tools/setup_env.sh`` builds mmcv's compiled ops.

    Args:
        mode: ``'cuda'`` (``MMCV_WITH_OPS=1 FORCE_CUDA=1``) or ``'cpu'`` (``MMCV_WITH_OPS=1``).
        reason: Why, in one line.
        warning: Set when torch is a CUDA build but the CUDA ops cannot be built here.
    """
    mode: str
    reason: str
    warning: Optional[str] = None


# ---------------------------------------------------------------------------- parsing

def _split_local(version: str) -> Tuple[str, Optional[str]]:
    """``'2.7.1+cu128'`` -> ``('2.7.1', 'cu128')``; no ``+`` -> ``(version, None)``."""
    public, _, local = version.partition('+')
    return public, (local or None)


def _release(version: str) -> Optional[Tuple[int, ...]]:
    """The leading numeric release of a version (``'2.13.0+cpu'`` -> ``(2, 13, 0)``)."""
    match = re.match(r'(\d+(?:\.\d+)*)', _split_local(version)[0])
    return tuple(int(p) for p in match.group(1).split('.')) if match else None


def _label_device(label: Optional[str]) -> Optional[Tuple[str, Optional[str]]]:
    """A wheel's local label as ``(kind, version)``: ``'cu128'`` -> ``('cuda', '12.8')``,
    ``'cpu'`` -> ``('cpu', None)``, ``'rocm6.3'`` -> ``('rocm', '6.3')``; None if unknown."""
    if not label:
        return None
    if label == 'cpu':
        return ('cpu', None)
    match = re.fullmatch(r'cu(\d+)(\d)', label)
    if match:
        return ('cuda', f'{int(match.group(1))}.{match.group(2)}')
    match = re.fullmatch(r'rocm(\d+(?:\.\d+)*)', label)
    if match:
        return ('rocm', match.group(1))
    return None


def torch_device(torch: TorchBuild) -> Tuple[str, Optional[str]]:
    """``('cpu', None)``, ``('cuda', '12.8')`` or ``('rocm', '6.3')`` for a torch build."""
    if torch.cuda:
        return ('cuda', torch.cuda)
    if torch.hip:
        return ('rocm', torch.hip)
    return ('cpu', None)


def torchvision_device(tv: TorchvisionBuild) -> Optional[Tuple[str, Optional[str]]]:
    """The device a torchvision was built for, or None when nothing tells.

    ``torchvision.version.cuda`` exists only when its CUDA ops loaded; otherwise the
    version's local label (``+cpu``, ``+cu130``) tells. PyPI's wheels carry the label in
    ``__version__`` (``0.28.0+cu130``) even though their metadata says ``0.28.0``.
    """
    if tv.cuda:
        return ('cuda', tv.cuda)
    return _label_device(_split_local(tv.version)[1]) if tv.version else None


def _describe_device(device: Tuple[str, Optional[str]]) -> str:
    kind, version = device
    return {'cpu': 'CPU', 'cuda': f'CUDA {version}', 'rocm': f'ROCm {version}'}[kind]


def _major(version: Optional[str]) -> Optional[str]:
    return version.split('.')[0] if version else None


def expected_torchvision(torch_version: str) -> Optional[str]:
    """The torchvision release made for a torch release (``'2.13.0'`` -> ``'0.28.0'``)."""
    release = _release(torch_version)
    if not release or release[0] != 2 or len(release) < 2:
        return None
    patch = release[2] if len(release) > 2 else 0
    return f'0.{release[1] + TORCHVISION_MINOR_OFFSET}.{patch}'


def _specifier_contains(specifier: str, version: str) -> Optional[bool]:
    """Whether ``version`` satisfies ``specifier`` (PEP 440; ``==2.13.0`` accepts
    ``2.13.0+cpu``); None when neither packaging nor pip's copy of it is importable."""
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:
        try:
            from pip._vendor.packaging.specifiers import SpecifierSet
        except ImportError:
            return None
    return SpecifierSet(specifier).contains(version, prereleases=True)


# ---------------------------------------------------------------------------- decisions

def decide_torchvision(torch: Optional[TorchBuild],
                       tv: Optional[TorchvisionBuild]) -> Verdict:
    """Keep, or refuse, the torchvision installed beside torch.

    Refused when ``import torchvision`` fails, when its declared torch requirement (or,
    without metadata, its release) is not the installed torch, or when it was built for
    another device than torch (CPU vs CUDA vs ROCm, or another CUDA major).

    Args:
        torch: The installed torch, None when there is none.
        tv: The installed torchvision, None when there is none.

    Returns:
        The verdict; when refused, its message names the reasons and the two fixes.
    """
    if tv is None:
        return Verdict(True, 'absent',
                       'torchvision: not installed (desa2va_mm does not need it)')
    tv_name = f'torchvision {tv.version or "(unknown version)"}'
    where = f' at {tv.location}' if tv.location else ''
    if torch is None:
        required = f' (torch{tv.torch_requirement})' if tv.torch_requirement else ''
        return Verdict(False, 'incompatible', (
            f'{tv_name}{where} is installed but torch is not: the installer would add a '
            'CPU torch it was not built for.\n'
            'Fix, either:\n'
            '  pip uninstall -y torchvision\n'
            f'  or install the torch it requires{required} first, from the same index '
            'as torchvision'))

    problems: List[str] = []
    if tv.import_error:
        problems.append(f'`import torchvision` fails: {tv.import_error}')
    if tv.torch_requirement:
        if _specifier_contains(tv.torch_requirement, torch.version) is False:
            problems.append(f'it requires torch{tv.torch_requirement}, '
                            f'but torch {torch.version} is installed')
    elif tv.version:
        wanted = expected_torchvision(torch.version)
        have, want = _release(tv.version), _release(wanted) if wanted else None
        if have and want and have[:2] != want[:2]:
            problems.append(f'it is the release for another torch (torch {torch.version} '
                            f'goes with torchvision {wanted})')
    tv_dev, torch_dev = torchvision_device(tv), torch_device(torch)
    if tv_dev is not None:
        if tv_dev[0] != torch_dev[0]:
            problems.append(f'it is a {_describe_device(tv_dev)} build, torch is a '
                            f'{_describe_device(torch_dev)} build')
        elif tv_dev[0] == 'cuda' and _major(tv_dev[1]) != _major(torch_dev[1]):
            problems.append(f'it is built for {_describe_device(tv_dev)}, torch for '
                            f'{_describe_device(torch_dev)} (torchvision refuses another '
                            'CUDA major)')
    if not problems:
        return Verdict(True, 'compatible', (
            f'{tv_name} matches torch {torch.version} '
            f'({_describe_device(torch_dev)}): kept'))

    wanted = expected_torchvision(torch.version)
    label = _split_local(torch.version)[1]
    index = f' --index-url {PYTORCH_INDEX}/{label}' if label else ''
    install = (f'pip install --no-deps torchvision=={wanted}{index}' if wanted else
               f'pip install --no-deps the torchvision release made for torch {torch.version}')
    lines = [f'{tv_name}{where} does not match torch {torch.version} '
             f'({_describe_device(torch_dev)} build):']
    lines += [f'  - {p}' for p in problems]
    lines += [
        'A torchvision that does not match torch fails to import or to run its ops, and '
        'transformers imports it whenever it is installed (InternVLForConditionalGeneration '
        'and the image processors then fail to import). desa2va_mm itself does not need '
        'torchvision.',
        'Fix, either:',
        '  pip uninstall -y torchvision',
        f'  or install the build made for this torch: {install}',
    ]
    return Verdict(False, 'incompatible', '\n'.join(lines))


def decide_mmcv_build(torch: TorchBuild, nvcc: Optional[str],
                      nvcc_release: Optional[str]) -> MmcvBuild:
    """CUDA ops when torch is a CUDA build and a CUDA toolkit of the same major is here.

    A CUDA torch without a usable nvcc (a runtime-only image, a login node) still gets
    mmcv's CPU ops, with a warning: mmdet imports ``mmcv.ops`` either way, and
    desa2va_mm's own modules call no mmcv op; mmdet detectors that run mmcv ops on GPU
    tensors (nms, RoIAlign) need the CUDA build.

    Args:
        torch: The installed torch.
        nvcc: Path of nvcc (see :func:`find_nvcc`), None when not found.
        nvcc_release: Its ``release`` (``'12.8'``), None when unknown.
    """
    if not torch.cuda:
        return MmcvBuild('cpu', f'torch {torch.version} is a '
                         f'{_describe_device(torch_device(torch))} build')
    fix = (f'install a CUDA {_major(torch.cuda)}.x toolkit (a -devel image, or the '
           "cluster's CUDA module), point CUDA_HOME at it, then "
           'run FORCE=1 bash tools/setup_env.sh')
    if nvcc is None:
        return MmcvBuild('cpu', f'torch {torch.version} is a CUDA {torch.cuda} build but '
                         'nvcc was not found', warning=(
                             f'torch {torch.version} is a CUDA {torch.cuda} build but nvcc '
                             'was not found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda): '
                             "mmcv gets its CPU ops only, so mmdet code that runs mmcv ops "
                             f'on GPU tensors will fail. Fix: {fix}'))
    if nvcc_release is not None and _major(nvcc_release) != _major(torch.cuda):
        return MmcvBuild('cpu', f'nvcc {nvcc_release} ({nvcc}) is not CUDA '
                         f'{_major(torch.cuda)}.x like torch', warning=(
                             f'nvcc {nvcc_release} at {nvcc} cannot build extensions for '
                             f'torch {torch.version} (CUDA {torch.cuda}): torch refuses '
                             "another CUDA major. mmcv gets its CPU ops only. "
                             f'Fix: {fix}'))
    return MmcvBuild('cuda', f'torch {torch.version} is a CUDA {torch.cuda} build and '
                     f'nvcc {nvcc_release or "(version unknown)"} is at {nvcc}')


# ---------------------------------------------------------------------------- probes

def read_torch_build() -> Optional[TorchBuild]:
    """The installed torch's build, read from ``torch/version.py`` without importing torch
    (importing it costs 1-2 s); None when torch is not installed."""
    spec = importlib.util.find_spec('torch')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = osp.join(list(spec.submodule_search_locations)[0], 'version.py')
    try:
        version_spec = importlib.util.spec_from_file_location('_torch_version', path)
        module = importlib.util.module_from_spec(version_spec)
        version_spec.loader.exec_module(module)
    except (OSError, ImportError, SyntaxError):  # an unusual build: ask torch itself
        import torch
        module = torch.version
    return TorchBuild(version=str(module.__version__),
                      cuda=getattr(module, 'cuda', None),
                      hip=getattr(module, 'hip', None))


def _literal_version(path: str) -> Optional[str]:
    """``__version__ = '...'`` assigned in a Python file, without running it."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                any(isinstance(t, ast.Name) and t.id == '__version__' for t in node.targets):
            return str(node.value.value)
    return None


def _torch_requirement(location: str) -> Optional[str]:
    """The torch specifier in the metadata of the distribution that owns ``location``."""
    for dist in importlib.metadata.distributions(name='torchvision'):
        owner = osp.join(str(dist.locate_file('')), 'torchvision')
        if osp.realpath(owner) != osp.realpath(location):
            continue
        for requirement in dist.requires or ():
            # 'torch==2.13.0' or 'torch (==2.13.0)'; extras ('... ; extra == "x"') skipped
            match = re.fullmatch(r'\s*([A-Za-z0-9_.\-]+)\s*\(?\s*([^;()]*?)\s*\)?\s*(;.*)?',
                                 requirement)
            if match and match.group(1).lower() == 'torch' and \
                    'extra' not in (match.group(3) or ''):
                return match.group(2).replace(' ', '') or None
    return None


def _cuda_from_int(value) -> Optional[str]:
    """torchvision stores its CUDA version as major * 1000 + minor * 10 (12080 = 12.8)."""
    if isinstance(value, int) and value > 0:
        return f'{value // 1000}.{(value % 1000) // 10}'
    return str(value) if value else None


def probe_torchvision() -> Optional[TorchvisionBuild]:
    """Find and import torchvision (in this process); None when it is not installed.

    The import is the real test: a CUDA build beside a CPU torch raises while loading
    its op registrations, however its metadata looks.
    """
    spec = importlib.util.find_spec('torchvision')
    if spec is None:
        return None
    location = (list(spec.submodule_search_locations)[0]
                if spec.submodule_search_locations else spec.origin)
    version = _literal_version(osp.join(location, 'version.py'))
    requirement = _torch_requirement(location)
    try:
        module = importlib.import_module('torchvision')
    except Exception as exc:  # noqa: BLE001 - any failure means "does not work here"
        return TorchvisionBuild(version=version, location=location,
                                torch_requirement=requirement,
                                import_error=f'{type(exc).__name__}: {exc}')
    version_module = getattr(module, 'version', None)
    return TorchvisionBuild(
        version=str(getattr(module, '__version__', None) or version),
        location=location,
        cuda=_cuda_from_int(getattr(version_module, 'cuda', None)),
        torch_requirement=requirement)


def check_torchvision() -> Verdict:
    """:func:`decide_torchvision` on what is installed in this interpreter."""
    return decide_torchvision(read_torch_build(), probe_torchvision())


def find_nvcc() -> Optional[str]:
    """nvcc where torch's extension builder looks for it: ``$CUDA_HOME`` / ``$CUDA_PATH``,
    then ``PATH``, then ``/usr/local/cuda``."""
    for var in ('CUDA_HOME', 'CUDA_PATH'):
        home = os.environ.get(var)
        if home:
            candidate = osp.join(home, 'bin', 'nvcc')
            return candidate if osp.isfile(candidate) else None
    found = shutil.which('nvcc')
    if found:
        return found
    default = '/usr/local/cuda/bin/nvcc'
    return default if osp.isfile(default) else None


def nvcc_release(nvcc: str) -> Optional[str]:
    """``'12.8'`` from ``nvcc --version`` (``Cuda compilation tools, release 12.8, ...``)."""
    try:
        out = subprocess.run([nvcc, '--version'], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'release (\d+\.\d+)', out)
    return match.group(1) if match else None


def check_mmcv_build(torch: Optional[TorchBuild] = None) -> MmcvBuild:
    """:func:`decide_mmcv_build` on this machine."""
    torch = torch or read_torch_build()
    if torch is None:
        return MmcvBuild('cpu', 'torch is not installed yet')
    nvcc = find_nvcc() if torch.cuda else None
    return decide_mmcv_build(torch, nvcc, nvcc_release(nvcc) if nvcc else None)


def mmcv_ops_problem(mode: str) -> Optional[str]:
    """What is wrong with the installed mmcv's compiled ops for a build ``mode``, or None.

    Loads ``mmcv/_ext*.so`` directly (torch first, whose symbols it needs) instead of
    ``import mmcv.ops``, which pulls mmengine and OpenCV in for a few more seconds.
    For ``mode='cuda'`` the ops must also have been compiled with CUDA.
    """
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return 'mmcv is not installed'
    package = list(spec.submodule_search_locations)[0]
    libs = [osp.join(package, '_ext' + suffix)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if osp.isfile(osp.join(package, '_ext' + suffix))]
    if not libs:
        return (f'mmcv at {package} has no compiled ops (mmcv/_ext): it was built without '
                'MMCV_WITH_OPS=1 or in an isolated build environment without torch')
    import torch  # noqa: F401  (mmcv/_ext links against torch's libraries)
    try:
        ext_spec = importlib.util.spec_from_file_location('mmcv._ext', libs[0])
        ext = importlib.util.module_from_spec(ext_spec)
        ext_spec.loader.exec_module(ext)
    except ImportError as exc:
        return (f'mmcv/_ext at {libs[0]} does not load ({exc}): it was built against '
                'another torch; rebuild it (FORCE=1 bash tools/setup_env.sh)')
    if mode == 'cuda':
        compiled = ext.get_compiling_cuda_version()
        if not re.match(r'\d', str(compiled)):
            return (f'mmcv at {package} has CPU-only ops (compiling CUDA version: '
                    f'{compiled}) but this machine can build its CUDA ops')
    return None


# ---------------------------------------------------------------------------- CLI

def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0] + ' Exit status 0: fine; 1: refused or '
        'missing, with the reason and the fix on stderr.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser(
        'torchvision', help='accept no torchvision or one matching torch; refuse a '
        'mismatched one (CUDA build beside CPU torch, another torch release)')
    commands.add_parser(
        'mmcv-build', help="print 'cuda' or 'cpu': CUDA ops when torch is a CUDA build "
        'and nvcc of the same CUDA major is found; the reason goes to stderr')
    ops = commands.add_parser(
        'mmcv-ops', help="check the installed mmcv's compiled ops load (and, for the "
        'cuda build, were compiled with CUDA)')
    ops.add_argument('--build', choices=('cuda', 'cpu'), default=None,
                     help='the build to check for (default: what mmcv-build decides)')
    args = parser.parse_args(argv)

    if args.command == 'torchvision':
        verdict = check_torchvision()
        print(f'[env_check] {verdict.message}', file=sys.stderr if not verdict.ok
              else sys.stdout)
        return 0 if verdict.ok else 1
    if args.command == 'mmcv-build':
        build = check_mmcv_build()
        print(f'[env_check] mmcv ops: {build.mode} ({build.reason})', file=sys.stderr)
        if build.warning:
            print(f'[env_check] WARNING: {build.warning}', file=sys.stderr)
        print(build.mode)
        return 0
    mode = args.build or check_mmcv_build().mode
    problem = mmcv_ops_problem(mode)
    if problem:
        print(f'[env_check] {problem}', file=sys.stderr)
        return 1
    print(f'[env_check] mmcv ops load ({mode} build)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
