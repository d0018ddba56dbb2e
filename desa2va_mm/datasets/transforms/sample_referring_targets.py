"""Pick which referred objects / sentences of an image become targets."""
from typing import List

import numpy as np
from mmcv.transforms import BaseTransform

from desa2va_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SampleReferringTargets(BaseTransform):
    """Turn an image's referred objects into the targets of one sample.

    Input ``results['instances']``: one dict per referred object with ``mask`` (COCO
    polygon / RLE) and ``sentences`` (list of str), as
    :class:`~desa2va_mm.datasets.RefCocoReferringDataset` yields them.

    Output: ``results['text']`` (list of sentences, one per target) and
    ``results['instances']`` (one dict with ``mask`` and ``ignore_flag`` per target, the
    layout mmdet's ``LoadAnnotations`` reads), in the same order.

    Args:
        mode: ``'random'`` (training: a random subset of at most ``max_objects`` objects,
            one sentence drawn at random for each, anew every time the sample is loaded) or
            ``'all'`` (evaluation: every sentence of every object, in dataset order; each
            sentence is one evaluation sample).
        max_objects: Objects per training sample (Sa2VA packs 5 into one conversation).
    """

    def __init__(self, mode: str = 'random', max_objects: int = 5) -> None:
        if mode not in ('random', 'all'):
            raise ValueError(f"mode must be 'random' or 'all', got {mode!r}")
        if max_objects < 1:
            raise ValueError(f'max_objects must be >= 1, got {max_objects}')
        self.mode = mode
        self.max_objects = max_objects

    def transform(self, results: dict) -> dict:
        objects = results.get('instances') or []
        objects = [o for o in objects if o.get('sentences')]
        if not objects:
            raise ValueError(
                f"{results.get('img_path', '<unknown image>')}: no referred object with a "
                f'sentence to use as a target')
        texts: List[str] = []
        targets: List[dict] = []
        if self.mode == 'all':
            for obj in objects:
                for sentence in obj['sentences']:
                    texts.append(sentence)
                    targets.append(dict(mask=obj['mask'], ignore_flag=0))
        else:
            order = np.random.permutation(len(objects))[:self.max_objects]
            for i in order:
                obj = objects[i]
                texts.append(obj['sentences'][np.random.randint(len(obj['sentences']))])
                targets.append(dict(mask=obj['mask'], ignore_flag=0))
        results['text'] = texts
        results['instances'] = targets
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(mode={self.mode!r}, max_objects={self.max_objects})'
