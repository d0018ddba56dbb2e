"""``MMDistributedDataParallel`` that also wraps CPU modules (gloo runs)."""
from typing import Optional, Sequence

import torch
from mmengine.model import MMDistributedDataParallel

from desa2va_mm.registry import MODEL_WRAPPERS


def _module_on_cpu(module: torch.nn.Module) -> bool:
    devices = {p.device.type for p in module.parameters()}
    devices |= {b.device.type for b in module.buffers()}
    return devices <= {'cpu'}


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """:class:`mmengine.model.MMDistributedDataParallel` usable on CPU.

    MMEngine 0.10.7's ``Runner.wrap_model`` always passes
    ``device_ids=[int(os.environ['LOCAL_RANK'])]``; ``DistributedDataParallel``
    refuses ``device_ids`` / ``output_device`` for a module whose parameters live on
    the CPU ("device_ids ... only work with single-device/multiple-device GPU modules
    or CPU modules"). This wrapper drops both when every parameter and buffer of the
    module is on the CPU and passes them through unchanged otherwise, so the same
    config runs on GPUs (nccl) and on CPU-only machines (gloo).

    ``tools/train.py`` and ``tools/test.py`` select it (``cfg.model_wrapper_cfg.type``)
    only for distributed runs without an accelerator; all other keyword arguments
    (``find_unused_parameters``, ``broadcast_buffers``, ``detect_anomalous_params``...)
    go to ``MMDistributedDataParallel`` unchanged.
    """

    def __init__(self,
                 module: torch.nn.Module,
                 device_ids: Optional[Sequence] = None,
                 output_device=None,
                 **kwargs):
        if _module_on_cpu(module):
            device_ids = None
            output_device = None
        super().__init__(
            module=module,
            device_ids=device_ids,
            output_device=output_device,
            **kwargs)
