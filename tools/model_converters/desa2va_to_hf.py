"""Export a trained DeSa2VA / Sa2VA checkpoint to a self-contained inference folder.

    python tools/model_converters/desa2va_to_hf.py configs/desa2va/desa2va_1b_fusion.py \
        work_dirs/desa2va_1b_fusion/epoch_1.pth exports/desa2va_1b

The model is built from the config (with its ``pretrained`` InternVL and SAM-2 paths, so
checkpoints that hold only trained weights work), the checkpoint is loaded (shape
mismatches are errors; keys the checkpoint lacks must come from ``pretrained``), LoRA is
merged, and the folder described in desa2va_mm/utils/hf_export.py is written. Load it with
``desa2va_mm.utils.hf_export.load_desa2va_export(folder)`` (the Inferencer does).

This folder format is ours (DeSa2VA has no Sa2VA counterpart). For the Sa2VA baseline in
the layout of Sa2VA's own releases (``config.json`` + safetensors under Sa2VA's key names,
loaded by Sa2VA's ``Sa2VAChatModel``), use ``sa2va_baseline_to_hf.py``.
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Trained DeSa2VA checkpoint -> inference folder (LoRA merged)')
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='trained checkpoint (.pth)')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils.hf_export import export_desa2va
    from desa2va_mm.utils.internvl_conversion import load_state_dict_files

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    state = load_state_dict_files(args.checkpoint)
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f'{args.checkpoint}: {len(result.unexpected_keys)} keys the model '
                           f'does not have, e.g. {result.unexpected_keys[:10]}')
    print(f'loaded {len(state)} tensors from {args.checkpoint}; '
          f'{len(result.missing_keys)} model keys taken from the pretrained files')
    meta = export_desa2va(model.eval(), cfg.model.to_dict(), args.out, source=args.checkpoint)
    print(f'wrote {args.out} ({meta["lora_layers_merged"]} LoRA layers merged)')


if __name__ == '__main__':
    main()
