"""Count a config's parameters per component without allocating their memory.

The model is built on the ``meta`` device (shapes only, no weight memory; a real-size 8B
config builds in seconds) with ``pretrained`` / SAM-2 ``checkpoint`` paths ignored: the
architecture comes from the config. Prints total and trainable parameters per component
and, for the real-size configs, compares the InternVL and SAM-2 totals with the
published sizes.

    python tools/analysis_tools/param_count.py configs/desa2va/desa2va_1b_decouple.py
    python tools/analysis_tools/param_count.py configs/sa2va/sa2va_8b.py --cfg-options \
        model.grounding_encoder.config=configs/sam2.1/sam2.1_hiera_l.yaml
"""
import argparse
import os.path as osp
import sys
import time
from collections import OrderedDict
from typing import Dict, Optional, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

#: Published parameter counts (Hugging Face model pages: InternVL2_5-1B "938M",
#: InternVL2_5-4B "3.71B", InternVL2_5-8B "8.08B"; SAM 2 README: sam2_hiera_large
#: "224.4M"; InternVL3-2B "2.09B", InternVL3-8B "7.94B"), keyed by the LLM's (hidden
#: size, layers).
PUBLISHED_INTERNVL = {
    (896, 24): ('InternVL2.5-1B', 938e6),
    (2048, 36): ('InternVL2.5-4B', 3.71e9),
    (4096, 32): ('InternVL2.5-8B', 8.08e9),
    (1536, 28): ('InternVL3-2B', 2.09e9),
    (3584, 28): ('InternVL3-8B', 7.94e9),
}
PUBLISHED_SAM2 = {144: ('SAM-2 hiera-L', 224.4e6)}  # keyed by the Hiera embed dim

#: (component, parameter-name prefix) in match order; LoRA adapters are counted apart.
COMPONENTS = (
    ('mllm.vision_tower', 'mllm.model.model.vision_tower.'),
    ('mllm.projector', 'mllm.model.model.multi_modal_projector.'),
    ('mllm.language_model', 'mllm.model.model.language_model.'),
    ('mllm.lm_head', 'mllm.model.lm_head.'),
    ('sam2.image_encoder', 'grounding_encoder.sam2.image_encoder.'),
    ('sam2.prompt_encoder', 'grounding_encoder.sam2.sam_prompt_encoder.'),
    ('sam2.mask_decoder', 'grounding_encoder.sam2.sam_mask_decoder.'),
    ('sam2.memory_and_rest', 'grounding_encoder.sam2.'),
)


def parse_args():
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Total / trainable parameters per component, built on the meta device')
    parser.add_argument('config', help='config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs')
    parser.add_argument('--tolerance', type=float, default=0.01,
                        help='relative tolerance against the published sizes (default 1%%)')
    return parser.parse_args()


def component_of(name: str) -> str:
    """The component a parameter belongs to (LoRA adapters: ``<component>.lora``; the seg
    head's parts one by one: ``seg_head.text_hidden_fcs``, ``seg_head.neck`` ...)."""
    for component, prefix in COMPONENTS:
        if name.startswith(prefix):
            return component + ('.lora' if '.lora_' in name else '')
    parts = name.split('.')
    return '.'.join(parts[:2]) if parts[0] == 'seg_head' else parts[0]


def count_parameters(model) -> 'OrderedDict[str, Tuple[int, int]]':
    """``{component: (total, trainable)}`` in first-seen order (shared tensors once)."""
    counts: 'OrderedDict[str, list]' = OrderedDict()
    seen = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        if id(param) in seen:
            continue
        seen.add(id(param))
        entry = counts.setdefault(component_of(name), [0, 0])
        entry[0] += param.numel()
        if param.requires_grad:
            entry[1] += param.numel()
    return OrderedDict((k, (v[0], v[1])) for k, v in counts.items())


def build_on_meta(cfg):
    """Build ``cfg.model`` on the meta device, ignoring pretrained weight paths."""
    import torch

    from desa2va_mm.registry import MODELS
    from mmengine.registry import init_default_scope

    init_default_scope('desa2va_mm')
    model_cfg = cfg.model.copy()
    if 'mllm' in model_cfg and model_cfg.mllm.get('pretrained') is not None:
        model_cfg.mllm.pretrained = None
    if 'grounding_encoder' in model_cfg:
        model_cfg.grounding_encoder.checkpoint = None
    # sam2's Hiera reads its drop-path schedule with .item() on torch.linspace(...), which
    # a meta tensor cannot answer: that one schedule is computed on the CPU.
    linspace = torch.linspace

    def cpu_linspace(*args, **kwargs):
        kwargs.setdefault('device', 'cpu')
        return linspace(*args, **kwargs)

    torch.linspace = cpu_linspace
    try:
        with torch.device('meta'):
            return MODELS.build(model_cfg)
    finally:
        torch.linspace = linspace


def summarise(model) -> Dict[str, Optional[float]]:
    """Totals of the parts that have a published size."""
    counts = count_parameters(model)
    internvl = sum(v[0] for k, v in counts.items()
                   if k.startswith('mllm.') and not k.endswith('.lora'))
    sam2 = sum(v[0] for k, v in counts.items() if k.startswith('sam2.'))
    return dict(internvl=internvl, sam2=sam2,
                total=sum(v[0] for v in counts.values()),
                trainable=sum(v[1] for v in counts.values()))


def published_reference(model):
    """``(internvl_name, size)``, ``(sam2_name, size)`` for this model's architecture."""
    text = model.mllm.config.text_config
    internvl = PUBLISHED_INTERNVL.get((text.hidden_size, text.num_hidden_layers))
    trunk = model.grounding_encoder.sam2.image_encoder.trunk
    embed_dim = trunk.patch_embed.proj.out_channels
    return internvl, PUBLISHED_SAM2.get(embed_dim)


def main():
    args = parse_args()
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    start = time.perf_counter()
    model = build_on_meta(cfg)
    elapsed = time.perf_counter() - start
    counts = count_parameters(model)

    print(f'config: {args.config}  (built on the meta device in {elapsed:.1f} s)')
    print(f'{"component":<28}{"total":>16}{"trainable":>16}')
    for name, (total, trainable) in counts.items():
        print(f'{name:<28}{total:>16,}{trainable:>16,}')
    s = summarise(model)
    print(f'{"all":<28}{s["total"]:>16,}{s["trainable"]:>16,}')
    print(f'InternVL (no LoRA): {s["internvl"] / 1e6:,.2f} M   SAM-2: {s["sam2"] / 1e6:,.2f} M   '
          f'trainable: {s["trainable"] / 1e6:,.2f} M ({100 * s["trainable"] / s["total"]:.2f}%)')

    ok = True
    internvl_ref, sam2_ref = published_reference(model)
    for ref, value in ((internvl_ref, s['internvl']), (sam2_ref, s['sam2'])):
        if ref is None:
            continue
        name, size = ref
        rel = value / size - 1
        verdict = 'OK' if abs(rel) <= args.tolerance else 'MISMATCH'
        ok &= verdict == 'OK'
        print(f'{name}: counted {value / 1e6:,.2f} M vs published {size / 1e6:,.1f} M '
              f'({100 * rel:+.2f}%) {verdict}')
    if not ok:
        sys.exit(1)


if __name__ == '__main__':
    main()
