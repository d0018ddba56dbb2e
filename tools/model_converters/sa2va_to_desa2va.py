"""Import a Sa2VA checkpoint into our Sa2VA baseline or a DeSa2VA phase initialisation.

    # Sa2VA HF folder (LoRA merged) -> our baseline, then evaluate it:
    python tools/model_converters/sa2va_to_desa2va.py pretrained/Sa2VA-1B \
        work_dirs/sa2va_1b_import.pth --config configs/sa2va/sa2va_1b.py
    # -> DeSa2VA phase-2 initialisation (D_t and D_v both start from Sa2VA's decoder):
    python tools/model_converters/sa2va_to_desa2va.py pretrained/Sa2VA-1B \
        work_dirs/desa2va_1b_from_sa2va.pth --config configs/desa2va/desa2va_1b_decouple.py
    python tools/train.py configs/desa2va/desa2va_1b_decouple.py \
        --cfg-options load_from=work_dirs/desa2va_1b_from_sa2va.pth

Input: a Sa2VA Hugging Face folder (``vision_model.*``, ``mlp1.*``, ``language_model.*``,
``grounding_encoder.sam2_model.*``, ``text_hidden_fcs.*``) or an xtuner training ``.pth``
(the same under ``mllm.model.``, with peft LoRA; pass ``--partial`` when it holds only the
trained weights). The target model is built from ``--config`` on the meta device, and
every key is checked: anything the converter cannot place, any shape mismatch, and any
model key left without a weight for a reason it cannot name stops the conversion. The
output is an MMEngine-style checkpoint (``state_dict`` + ``meta``) for ``load_from``.

Testing a Sa2VA release with the Sa2VA baseline needs no conversion step:
``python tools/test.py configs/sa2va/sa2va_1b.py pretrained/Sa2VA-1B`` converts the folder
in memory (``desa2va_mm.utils.sa2va_release.load_sa2va_release``).
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Sa2VA checkpoint -> our Sa2VA baseline / DeSa2VA initialisation')
    parser.add_argument('src', help='Sa2VA HF folder or training .pth')
    parser.add_argument('out', help='output checkpoint (.pth) for load_from')
    parser.add_argument('--config', required=True,
                        help='target config: configs/sa2va_*.py or configs/desa2va_*_*.py')
    parser.add_argument('--partial', action='store_true',
                        help='the source holds only trained weights (xtuner .pth): frozen '
                        'InternVL / SAM-2 weights may be absent (they come from pretrained)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs')
    return parser.parse_args(argv)


def convert(src, out: str, cfg, partial: bool = False) -> dict:
    """Convert ``src`` (a path, or an already loaded state dict) for the model of ``cfg``;
    write ``out``; return the report."""
    import torch

    from desa2va_mm.models.seg_heads import DecoupledSegHead
    from desa2va_mm.utils.internvl_conversion import load_state_dict_files
    from desa2va_mm.utils.sa2va_conversion import (adapt_to_model_keys,
                                                   convert_sa2va_state_dict,
                                                   explained_missing)
    from desa2va_mm.utils.state_dict_check import check_state_dict, compare_state_dicts
    from tools.analysis_tools.param_count import build_on_meta

    model = build_on_meta(cfg)
    target = 'desa2va' if isinstance(model.seg_head, DecoupledSegHead) else 'sa2va'
    expected = model.state_dict()
    source = src if isinstance(src, dict) else load_state_dict_files(src)
    src = src if isinstance(src, str) else '<state dict>'
    has_lora = any('.lora_A.' in k for k in source)
    state, dropped = convert_sa2va_state_dict(
        source, target=target, text_cfg=model.mllm.config.text_config.to_dict())
    state = adapt_to_model_keys(state, expected)
    missing = compare_state_dicts(expected, state)[0]
    reasons = explained_missing(missing, target, has_lora, partial)
    check_state_dict(expected, state, source=f'{src} (converted for {target})',
                     allowed_missing=sorted(reasons) or None)
    state = {k: v.contiguous() for k, v in state.items()}
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    meta = dict(converted_from=src, target=target, config=cfg.filename,
                dropped_source_keys=dropped, num_missing_explained=len(reasons))
    torch.save(dict(state_dict=state, meta=meta), out)
    groups = {}
    for key, why in reasons.items():
        groups.setdefault(why, []).append(key)
    print(f'target {target}: {len(state)} tensors written to {out}')
    for why, keys in groups.items():
        print(f'  {len(keys)} model keys not in the source ({why}), e.g. {keys[0]}')
    for key, why in sorted(dropped.items())[:10]:
        print(f'  source key left out: {key} ({why})')
    print('unexpected: 0, shape mismatches: 0, unexplained missing: 0')
    return dict(target=target, num_tensors=len(state), missing_explained=reasons,
                dropped=dropped)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    convert(args.src, args.out, cfg, args.partial)


if __name__ == '__main__':
    main()
