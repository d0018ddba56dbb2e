"""Checkpoints as plain data: no Python text executed on resume, no MMEngine class inside."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from desa2va_mm.registry import HOOKS
from desa2va_mm.utils.checkpoint_safety import (mark_checkpoint_guard, plain_message_hub,
                                                restore_message_hub)

#: ``meta`` keys whose string MMEngine 0.10.7 parses with ``Config.fromstring`` (which
#: runs the text as Python): ``Runner.resume`` reads ``meta['config']``.
EXECUTED_META_KEYS = ('config', )


@HOOKS.register_module()
class CheckpointConfigGuardHook(Hook):
    """Drop the config text of a checkpoint before ``Runner.resume`` executes it, and
    write the message hub in plain types.

    ``torch.load(weights_only=True)`` makes *unpickling* safe, but after loading,
    MMEngine 0.10.7's ``Runner.resume`` (and ``FlexibleRunner.resume``) passes
    ``checkpoint['meta']['config']`` to ``Config.fromstring(..., '.py')``, which runs the
    string as a Python config file: a crafted checkpoint with
    ``meta['config'] = "import os; os.system(...)"`` would run code on ``--resume``. It
    only reads ``gpu_ids`` from it (a warning about a changed GPU count).

    This hook runs in ``after_load_checkpoint``, which MMEngine calls inside
    ``load_checkpoint``, before that line; it removes the key (logging a warning) so the
    text is never executed. Checkpoints written by MMEngine 0.10 store the config under
    ``meta['cfg']``, which resume never executes, so nothing of ours is lost.

    Saving, it replaces the message hub's ``HistoryBuffer`` objects and NumPy values by
    tensors and Python numbers
    (:func:`~desa2va_mm.utils.checkpoint_safety.plain_message_hub`), so a plain
    ``torch.load(path)`` (``weights_only=True``) reads the checkpoint without importing
    desa2va_mm or MMEngine; loading, it turns them back before the runner restores the
    message hub, bit for bit. Checkpoints written without this hook still load (through
    the allow-list of :mod:`desa2va_mm.utils.checkpoint_safety`).

    It is on in ``configs/_base_/default_runtime.py``; our models warn at their first
    training step when a runner trains them without it (docs/tools.md).
    """

    priority = 'HIGHEST'

    def before_run(self, runner) -> None:
        # The model warns at its first training step when a runner lacks this hook.
        mark_checkpoint_guard(runner.model, 'CheckpointConfigGuardHook')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if isinstance(checkpoint.get('message_hub'), dict):
            checkpoint['message_hub'] = plain_message_hub(checkpoint['message_hub'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if isinstance(checkpoint.get('message_hub'), dict):
            checkpoint['message_hub'] = restore_message_hub(checkpoint['message_hub'])
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
