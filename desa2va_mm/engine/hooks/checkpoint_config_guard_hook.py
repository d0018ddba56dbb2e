"""Keep MMEngine's resume from executing Python text stored in a checkpoint."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from desa2va_mm.registry import HOOKS

#: ``meta`` keys whose string MMEngine 0.10.7 parses with ``Config.fromstring`` (which
#: runs the text as Python): ``Runner.resume`` reads ``meta['config']``.
EXECUTED_META_KEYS = ('config', )


@HOOKS.register_module()
class CheckpointConfigGuardHook(Hook):
    """Drop the config text of a checkpoint before ``Runner.resume`` executes it.

    ``torch.load(weights_only=True)`` makes *unpickling* safe, but after loading,
    MMEngine 0.10.7's ``Runner.resume`` (and ``FlexibleRunner.resume``) passes
    ``checkpoint['meta']['config']`` to ``Config.fromstring(..., '.py')``, which runs the
    string as a Python config file: a crafted checkpoint with
    ``meta['config'] = "import os; os.system(...)"`` would run code on ``--resume``. It
    only reads ``gpu_ids`` from it (a warning about a changed GPU count).

    This hook runs in ``after_load_checkpoint``, which MMEngine calls inside
    ``load_checkpoint``, before that line; it removes the key (logging a warning) so the
    text is never executed. Checkpoints written by MMEngine 0.10 store the config under
    ``meta['cfg']``, which resume never executes, so nothing of ours is lost. It is on in
    ``configs/_base_/default_runtime.py``.
    """

    priority = 'HIGHEST'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta')
        if not isinstance(meta, dict):
            return
        for key in EXECUTED_META_KEYS:
            if key in meta:
                text = meta.pop(key)
                print_log(
                    f"CheckpointConfigGuardHook: ignored checkpoint meta['{key}'] "
                    f'({len(str(text))} characters of Python config text, which MMEngine '
                    'would execute on resume)', logger='current', level=30)
