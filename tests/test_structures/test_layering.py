"""Layers: ``structures`` is the ground floor (NumPy + pycocotools; PIL and OpenCV for the
shared SAM-2 input resize); the model never reads ``datasets`` and the RLE format has one
home."""
import ast
import glob
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = osp.join(REPO_ROOT, 'desa2va_mm')


def _imports(path):
    """Every absolute module a file imports (relative imports resolved to the package)."""
    names = set()
    package = osp.relpath(osp.dirname(path), REPO_ROOT).replace(osp.sep, '.')
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                names.add(f'{base}.{node.module}' if node.module else base)
            else:
                names.add(node.module)
    return names


def _files(*parts):
    return sorted(glob.glob(osp.join(PACKAGE, *parts, '**', '*.py'), recursive=True))


def test_structures_import_only_numpy_and_pycocotools():
    files = _files('structures')
    assert len(files) >= 3
    allowed = set(sys.stdlib_module_names) | {'numpy', 'pycocotools'}
    # The one resize of SAM-2 inputs (PIL bicubic or OpenCV bilinear) that the image
    # pipelines, the video transforms and the model's data preprocessor share.
    image_resize = osp.join(PACKAGE, 'structures', 'image_resize.py')
    for path in files:
        third_party = {m.split('.')[0] for m in _imports(path)} - {'desa2va_mm'}
        if path == image_resize:
            third_party -= {'PIL', 'cv2'}
        assert third_party <= allowed, (path, third_party - allowed)
        ours = {m for m in _imports(path) if m.startswith('desa2va_mm')}
        assert all(m.startswith('desa2va_mm.structures') for m in ours), (path, ours)


def test_models_never_import_datasets_or_read_video_files():
    for path in _files('models'):
        imported = _imports(path)
        assert not any(m.startswith('desa2va_mm.datasets') for m in imported), path
        assert 'cv2' not in imported and 'av' not in imported, path


def _mask_api_users(paths):
    """Files that import pycocotools' mask API (``pycocotools.mask`` / ``_mask``) or the
    whole package; ``pycocotools.coco`` / ``cocoeval`` (COCO's evaluation) do not count."""
    users = set()
    for path in paths:
        tree = ast.parse(open(path, encoding='utf-8').read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == 'pycocotools':
                names = [f'pycocotools.{a.name}' for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            if any(n == 'pycocotools' or n.startswith(('pycocotools.mask', 'pycocotools._mask'))
                   for n in names):
                users.add(path)
    return users


def test_pycocotools_mask_api_is_called_from_structures_only():
    """The model, metrics, transforms and tools go through ``desa2va_mm.structures.rle``;
    the synthetic generators (NumPy / OpenCV / pycocotools only, no ``desa2va_mm``) and
    the Inferencer keep their own calls. COCO's evaluator (``COCOeval``, for mask AP) is
    not the mask API."""
    own_calls = {osp.join(PACKAGE, 'structures', 'rle.py')}
    exempt = set(_files('synthetic')) | {osp.join(PACKAGE, 'apis', 'desa2va_inferencer.py')}
    roots = _files() + sorted(glob.glob(osp.join(REPO_ROOT, 'tools', '**', '*.py'),
                                        recursive=True))
    assert _mask_api_users(roots) - exempt == own_calls
    # The rule sees both import forms.
    assert osp.join(PACKAGE, 'structures', 'rle.py') in _mask_api_users(
        [osp.join(PACKAGE, 'structures', 'rle.py')])
