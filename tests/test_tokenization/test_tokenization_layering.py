"""``desa2va_mm.tokenization`` sits below ``datasets`` and ``models``: it imports neither."""
import ast
import glob
import os.path as osp

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _our_imports(path):
    """``desa2va_mm.*`` modules a file imports (absolute imports)."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read(), path)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith('desa2va_mm'))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 \
                and node.module.startswith('desa2va_mm'):
            names.add(node.module)
    return names


def test_tokenization_imports_only_the_registry_and_the_synthetic_vocabulary():
    files = sorted(glob.glob(osp.join(REPO_ROOT, 'desa2va_mm', 'tokenization', '*.py')))
    assert len(files) >= 7
    imported = set().union(*(_our_imports(f) for f in files))
    assert imported == {'desa2va_mm.registry', 'desa2va_mm.synthetic.vocabulary'}


def test_datasets_and_models_take_tokenizers_and_templates_from_tokenization():
    pipeline = osp.join(REPO_ROOT, 'desa2va_mm', 'datasets', 'transforms',
                        'tokenize_conversation.py')
    mllm = osp.join(REPO_ROOT, 'desa2va_mm', 'models', 'mllm', 'internvl_mllm.py')
    assert 'desa2va_mm.tokenization' in _our_imports(pipeline)
    assert 'desa2va_mm.tokenization' in _our_imports(mllm)
    assert not any(m.startswith('desa2va_mm.models') for m in _our_imports(pipeline))
