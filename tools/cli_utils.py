"""Shared by tools/train.py and tools/test.py: config loading and a ``--cfg-options`` check.

Only MMEngine is imported here, so a bad config path or a typo'd key is reported in about
a second, before the tools import the whole stack.
"""
import difflib
import os
import os.path as osp
import sys

from mmengine.config import Config

# Top-level keys ``Runner.from_cfg`` reads; ``--cfg-options`` may create them (and
# anything below them) even when the config does not define them.
RUNNER_CFG_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
    'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks',
    'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher',
    'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'model_wrapper_cfg', 'find_unused_parameters',
    'sync_bn', 'compile', 'strategy', 'runner_type'
})


def _describe(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _hint(name, candidates) -> str:
    matches = difflib.get_close_matches(
        str(name), [str(c) for c in candidates], n=3, cutoff=0.6)
    return f'; did you mean {", ".join(matches)}?' if matches else ''


def _looks_like_typo(name, candidates) -> bool:
    return bool(
        difflib.get_close_matches(
            str(name), [str(c) for c in candidates], n=1, cutoff=0.75))


def check_cfg_option_key(cfg_dict: dict, key: str):
    """Return an error message when ``key`` does not fit the config, else None.

    Every component but the last must exist (dict key, or in-range list index);
    the first may also be a key ``Runner.from_cfg`` reads (``randomness``,
    ``env_cfg``...). The last may be new (MMEngine adds it) unless it looks like a
    misspelling of an existing sibling (``train_cfg.max_itres`` next to
    ``max_iters``).
    """
    parts = key.split('.')
    node = cfg_dict
    for i, part in enumerate(parts):
        path = '.'.join(parts[:i + 1])
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if part in node:
                node = node[part]
                continue
            where = 'the config' if i == 0 else f'`{".".join(parts[:i])}`'
            if i == 0 and part in RUNNER_CFG_KEYS:
                return None  # a Runner argument the config leaves at its default
            if last and not _looks_like_typo(part, node.keys()):
                return None  # a new leaf key, MMEngine adds it
            return (f'unknown key `{path}` in --cfg-options `{key}`: {where} has no '
                    f'key `{part}`{_hint(part, node.keys())} (pass --allow-new-keys '
                    'to add it anyway)')
        if isinstance(node, (list, tuple)):
            if part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            return (f'invalid key `{path}` in --cfg-options `{key}`: '
                    f'`{".".join(parts[:i])}` is a list of {len(node)} items, '
                    f'`{part}` is not an index in it')
        return (f'invalid key `{path}` in --cfg-options `{key}`: '
                f'`{".".join(parts[:i])}` is {_describe(node)}, not a dict; set it '
                f'as a whole instead (or pass --allow-new-keys)')
    return None


def merge_cfg_options(parser, cfg, args) -> None:
    """Check ``--cfg-options`` keys (unless ``--allow-new-keys``), then merge."""
    if args.cfg_options is None:
        return
    if not args.allow_new_keys:
        errors = [
            msg for msg in (check_cfg_option_key(cfg._cfg_dict, key)
                            for key in args.cfg_options) if msg
        ]
        if errors:
            parser.error('\n  '.join(errors))
    cfg.merge_from_dict(args.cfg_options)


def find_config(path: str) -> str:
    """Return ``path``, or where a leaf config of that name lives in its family folder.

    Leaf configs are grouped by family (``configs/desa2va/``, ``configs/desa2va_video/``,
    ``configs/sa2va/``); a path in the flat form ``configs/<name>.py`` still names the one
    leaf called ``<name>.py`` under ``configs/*/``. Returns ``path`` unchanged when it
    exists or when no single leaf matches (the caller reports it).
    """
    if osp.isfile(path):
        return path
    folder, name = osp.split(path)
    matches = sorted(
        osp.join(folder, family, name) for family in
        (os.listdir(folder) if osp.isdir(folder) else [])
        if family != '_base_' and osp.isfile(osp.join(folder, family, name)))
    if len(matches) == 1:
        print(f'{path} -> {matches[0]} (leaf configs are grouped by family)', file=sys.stderr)
        return matches[0]
    return path


def load_config(parser, path: str):
    """Load a config given on the command line (``find_config`` resolves flat paths).

    Returns:
        tuple: ``(cfg, path)``, the config and the file it was read from.
    """
    found = find_config(path)
    if not osp.isfile(found):
        parser.error(f'config file not found: {path!r} (cwd {os.getcwd()})')
    return Config.fromfile(found), found


def build_runner(cfg, launcher: str):
    """Import the stack, set up (CPU-)distributed training and build the runner.

    Imported only here so that argument / config errors come back in ~1 s. Every module
    and the checkpoint safe globals are registered before the runner can load or resume
    a checkpoint.

    Returns:
        ``(runner, cpu_distributed)``; call ``finish(cpu_distributed)`` after the run.
    """
    from desa2va_mm.registry import RUNNERS
    from desa2va_mm.utils import register_all_modules
    from desa2va_mm.utils.dist import (adapt_fsdp_to_cpu,
                                       resolve_model_wrapper_type, setup_cpu_distributed,
                                       use_device_agnostic_ddp)
    from mmdet.utils import setup_cache_size_limit_of_dynamo
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    register_all_modules(init_default_scope=False)
    # Reduce the number of repeated compilations.
    setup_cache_size_limit_of_dynamo()
    # The Runner switches to cfg.default_scope ('mmengine' when absent): keep ours.
    if 'default_scope' not in cfg:
        cfg.default_scope = 'desa2va_mm'
    init_default_scope(cfg.get('default_scope', 'desa2va_mm'))
    # Distributed without an accelerator: gloo group + CPU-capable DDP wrapper.
    cpu_distributed = setup_cpu_distributed(launcher,
                                            (cfg.get('env_cfg') or {}).get('dist_cfg'))
    if cpu_distributed:
        use_device_agnostic_ddp(cfg)
        adapt_fsdp_to_cpu(cfg)
    resolve_model_wrapper_type(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    return runner, cpu_distributed


def finish(cpu_distributed: bool, code: int = 0) -> None:
    """End a CPU-distributed run cleanly (gloo aborts at exit otherwise); leave with
    ``code`` when it is not 0."""
    if cpu_distributed:
        from desa2va_mm.utils.dist import finalize_distributed
        finalize_distributed(code)
    elif code:
        sys.exit(code)
