"""Safe loading on every path we found: checkpoints (torch.load weights_only, the
resume-time config text), Hugging Face folders (trust_remote_code off unless opted in)
and converters (no eval / exec of config text)."""
import ast
import glob
import json
import os
import os.path as osp
import pickle
import re
import sys

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TESTS_DATA = osp.join(REPO_ROOT, 'tests', 'data')
TOY_CONFIG = osp.join(TESTS_DATA, 'configs', 'toy_ref.py')


class _Payload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'echo pwned > {self.marker}', ))


def _python_sources():
    roots = [osp.join(REPO_ROOT, 'desa2va_mm'), osp.join(REPO_ROOT, 'tools'),
             osp.join(REPO_ROOT, 'projects')]
    for root in roots:
        yield from glob.glob(osp.join(root, '**', '*.py'), recursive=True)


def _calls(path):
    """``(dotted function name, {keyword: value or None})`` for every call in a file."""
    tree = ast.parse(open(path, encoding='utf-8').read(), filename=path)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts, func = [], node.func
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if isinstance(func, ast.Name):
            parts.append(func.id)
        keywords = {k.arg: (k.value.value if isinstance(k.value, ast.Constant) else None)
                    for k in node.keywords}
        yield '.'.join(reversed(parts)), keywords


def test_every_torch_load_keeps_weights_only():
    """Static check (AST) over the package, tools and projects: each ``torch.load`` call
    passes ``weights_only=True``; no call passes ``weights_only=False``."""
    loads = 0
    for path in _python_sources():
        for name, keywords in _calls(path):
            assert keywords.get('weights_only', True) is not False, f'{path}: {name}'
            if name == 'torch.load':
                assert keywords.get('weights_only') is True, f'{path}: torch.load'
                loads += 1
        assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in open(path).read() or \
            path.endswith('checkpoint_safety.py'), path
    assert loads >= 2  # the SAM-2 and InternVL converters' loads at least


def test_converters_never_eval_config_text():
    """Static check (AST) of every converter: no eval / exec, no Config text parsing,
    no plain unpickling or YAML object loading, no trust_remote_code=True."""
    converters = [p for p in _python_sources()
                  if re.search(r'(converter|conversion|convert)', osp.basename(p))
                  or '/dataset_converters/' in p or '/model_converters/' in p]
    assert converters, 'no converter found to check'
    # Config.fromfile(args.config) reads the user's own project config (the same trust as
    # tools/train.py); text that comes with a checkpoint is never parsed.
    banned = {'eval', 'exec', 'compile', 'Config.fromstring',
              'pickle.load', 'pickle.loads', 'yaml.load', 'yaml.unsafe_load'}
    for path in converters:
        for name, keywords in _calls(path):
            assert name not in banned, f'{path} calls {name}'
            assert keywords.get('trust_remote_code') is not True, f'{path}: {name}'


def test_crafted_checkpoint_refused_by_our_load_paths(tmp_path):
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    from desa2va_mm.utils.internvl_conversion import load_state_dict_files
    register_checkpoint_safe_globals()
    marker = tmp_path / 'PWNED'
    path = str(tmp_path / 'evil.bin')
    torch.save(dict(state_dict={'w': torch.zeros(1)}, meta=_Payload(str(marker))), path)
    with pytest.raises(pickle.UnpicklingError):
        load_state_dict_files(path)  # the InternVL / Sa2VA converters' reader
    assert not marker.exists()


def _toy_runner(work_dir, name, resume=False, hook=True, load_from=None):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'safe_loading_{name}'
    cfg.log_level = 'WARNING'
    cfg.resume = resume
    cfg.load_from = load_from
    cfg.train_cfg.max_iters = 2 if not resume else 3
    cfg.default_hooks.checkpoint.save_best = None
    if hook:
        cfg.default_hooks.checkpoint_config_guard = dict(type='CheckpointConfigGuardHook')
    return Runner.from_cfg(cfg)


def test_resume_does_not_execute_config_text_in_checkpoint(tmp_path):
    """MMEngine's ``Runner.resume`` runs ``meta['config']`` through
    ``Config.fromstring`` (Python). The hook (default runtime) drops it first."""
    import desa2va_mm  # noqa: F401  (registers the hook, safe globals)
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    sys.path.insert(0, TESTS_DATA)
    try:
        _toy_runner(tmp_path / 'w', 'train').train()
        ckpt_path = tmp_path / 'w' / 'iter_2.pth'
        ckpt = torch.load(ckpt_path)
        marker = tmp_path / 'PWNED'
        ckpt['meta']['config'] = (f"_x = __import__('os').system('echo pwned > {marker}')\n"
                                  'gpu_ids = []\n')
        torch.save(ckpt, ckpt_path)  # plain data: weights_only loading accepts it
        evil_copy = tmp_path / 'evil.pth'
        torch.save(ckpt, evil_copy)
        _toy_runner(tmp_path / 'w', 'resume', resume=True).train()
        assert not marker.exists(), 'resume executed the checkpoint config text'
        assert osp.isfile(tmp_path / 'w' / 'iter_3.pth')
        # the same checkpoint without the hook: MMEngine executes the text
        runner = _toy_runner(tmp_path / 'w2', 'resume_unguarded', resume=True, hook=False,
                             load_from=str(evil_copy))
        runner.train()
        assert marker.exists()
    finally:
        sys.path.remove(TESTS_DATA)


def test_default_runtime_enables_the_guards():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sa2va', 'sa2va_tiny.py'))
    assert cfg.default_hooks.checkpoint_config_guard.type == 'CheckpointConfigGuardHook'
    assert cfg.default_hooks.exact_resume.type == 'ExactResumeHook'


def _remote_code_folder(root, marker):
    """A tokenizer folder whose ``auto_map`` points at code that leaves a marker."""
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'tokenizer_config.json'), 'w') as f:
        json.dump(dict(tokenizer_class='EvilTokenizer',
                       auto_map=dict(AutoTokenizer=['evil_tok.EvilTokenizer', None])), f)
    with open(osp.join(root, 'config.json'), 'w') as f:
        json.dump(dict(model_type='evil_model',
                       auto_map=dict(AutoConfig='evil_tok.EvilConfig')), f)
    with open(osp.join(root, 'evil_tok.py'), 'w') as f:
        f.write(f"open({str(marker)!r}, 'w').write('pwned')\n"
                'from transformers import PretrainedConfig, PreTrainedTokenizer\n'
                'class EvilConfig(PretrainedConfig):\n    model_type = "evil_model"\n'
                'class EvilTokenizer(PreTrainedTokenizer):\n    pass\n')


def test_hf_folders_need_an_explicit_trust_remote_code(tmp_path, monkeypatch):
    from desa2va_mm.models.mllm.internvl_mllm import InternVLMLLM
    from desa2va_mm.registry import TOKENIZERS
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_MODULES_CACHE', str(tmp_path / 'hf_modules'))
    marker = tmp_path / 'PWNED'
    folder = str(tmp_path / 'remote_code')
    _remote_code_folder(folder, marker)
    with pytest.raises(Exception, match='trust_remote_code'):
        TOKENIZERS.build(dict(type='HFPretrainedTokenizer', path=folder))
    with pytest.raises(Exception, match='trust_remote_code'):
        # The model's path: its tokenizer (and config) follow model.mllm.pretrained.
        InternVLMLLM(tokenizer=dict(type='InternVLTokenizer', path=None), pretrained=folder)
    assert not marker.exists()
    # opting in runs the folder's code (the point of the flag)
    try:
        TOKENIZERS.build(dict(type='HFPretrainedTokenizer', path=folder,
                              trust_remote_code=True))
    except Exception:  # noqa: BLE001 - the dummy tokenizer has no vocabulary
        pass
    assert marker.exists()
