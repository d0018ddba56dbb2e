"""Pick which expressions of a video become the targets of one sample."""
import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SampleVideoExpressions(BaseTransform):
    """Choose the expressions of a video item (:class:`VideoReferringDataset`).

    Output keys: ``expressions`` (list of E str), ``exp_ids`` (E str), ``type_ids``
    (E int or None) and ``expression_infos`` (the chosen expression dicts, read by
    :class:`LoadVideoAnnotations`), all in the same order.

    Args:
        mode: ``'all'`` (evaluation: every expression of the video, in dataset order) or
            ``'random'`` (training: ``num_expressions`` drawn anew at every load, as Sa2VA
            packs ``select_number=5`` expressions of one video into one conversation).
        num_expressions: Expressions per training sample.
        pad_with_replacement: When a video has fewer expressions than
            ``num_expressions``: False (default) uses each once (E < num_expressions);
            True repeats random ones up to ``num_expressions`` (Sa2VA's behaviour).
        require_masks: In ``'random'`` mode skip expressions without ground truth, and
            raise if none has any.
    """

    def __init__(self, mode: str = 'random', num_expressions: int = 5,
                 pad_with_replacement: bool = False, require_masks: bool = True) -> None:
        if mode not in ('random', 'all'):
            raise ValueError(f"mode must be 'random' or 'all', got {mode!r}")
        if num_expressions < 1:
            raise ValueError(f'num_expressions must be >= 1, got {num_expressions}')
        self.mode = mode
        self.num_expressions = num_expressions
        self.pad_with_replacement = pad_with_replacement
        self.require_masks = require_masks

    def transform(self, results: dict) -> dict:
        video_id = results.get('video_id', '<unknown video>')
        candidates = list(results.get('expressions') or [])
        if candidates and not isinstance(candidates[0], dict):
            raise ValueError(f'video {video_id!r}: expressions were already sampled')
        if self.mode == 'random' and self.require_masks:
            candidates = [e for e in candidates if e.get('mask_source') is not None]
        if not candidates:
            raise ValueError(f'video {video_id!r}: no expression'
                             + (' with a mask' if self.mode == 'random' and self.require_masks
                                else '') + ' to use as a target')
        if self.mode == 'all':
            chosen = candidates
        else:
            n = len(candidates)
            order = list(np.random.permutation(n)[:self.num_expressions])
            if self.pad_with_replacement and n < self.num_expressions:
                order += list(np.random.randint(n, size=self.num_expressions - n))
            chosen = [candidates[i] for i in order]
        results['expression_infos'] = chosen
        results['expressions'] = [e['expression'] for e in chosen]
        results['exp_ids'] = [e['exp_id'] for e in chosen]
        results['type_ids'] = [e.get('type_id') for e in chosen]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mode={self.mode!r}, '
                f'num_expressions={self.num_expressions}, '
                f'pad_with_replacement={self.pad_with_replacement})')
