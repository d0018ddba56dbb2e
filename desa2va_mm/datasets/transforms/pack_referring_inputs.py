"""Pack a referring-segmentation sample into ``inputs`` + ``DetDataSample``."""
import numpy as np
import torch
from mmdet.datasets.transforms import PackDetInputs

from desa2va_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackReferringInputs(PackDetInputs):
    """mmdet's ``PackDetInputs`` plus the MLLM fields.

    ``inputs``: the SAM-2 image (3, S, S) uint8 (normalised by the data preprocessor).
    ``data_sample.gt_instances.masks``: one mask per target, in sentence order.
    Data fields added to the sample: ``pixel_values`` (T, 3, s, s) InternVL tiles,
    ``input_ids`` (list of 1-D LongTensors), ``expression_ids`` (one per target), in
    training ``labels`` and, with region prompts, ``prompt_masks`` (R, H, W) bool
    (docs/visual_prompts.md).
    Meta keys default to what mmdet's ``RefSegMetric`` and the visualiser read; at test
    add ``'gt_masks'`` (original-resolution masks for the metric).
    """

    def __init__(self,
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                            'text')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        sample = packed['data_samples']
        for key in ('pixel_values', 'input_ids', 'labels', 'expression_ids'):
            if key in results:
                sample.set_field(results[key], key)
        if results.get('prompt_masks') is not None:
            sample.set_field(torch.from_numpy(np.asarray(results['prompt_masks']) != 0),
                             'prompt_masks')
        return packed
