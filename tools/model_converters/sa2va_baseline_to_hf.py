"""Export our Sa2VA baseline to Sa2VA's own Hugging Face release layout.

    python tools/model_converters/sa2va_baseline_to_hf.py configs/sa2va/sa2va_1b.py \
        work_dirs/sa2va_1b/iter_N.pth exports/Sa2VA-1B-ours \
        --cfg-options model.mllm.pretrained=$INTERNVL \
        model.grounding_encoder.checkpoint=$SAM2_CKPT \
        [--sa2va-code path/to/Sa2VA/projects/llava_sam2/hf/models]

The folder is what Sa2VA's ``convert_to_hf.py`` writes: ``config.json``
(``Sa2VAChatConfig``), ``model.safetensors`` (sharded with an index above
``--max-shard-size`` GB) under Sa2VA's key names with LoRA merged, and the tokenizer.
Sa2VA's ``Sa2VAChatModel.from_pretrained`` loads it with no missing or unexpected key
(``--sa2va-code`` copies Sa2VA's modeling files next to the weights, as its releases ship
them, for ``AutoModel.from_pretrained(..., trust_remote_code=True)``), and so does
``python tools/test.py configs/sa2va/sa2va_1b.py FOLDER``.

Only the Sa2VA baseline (``seg_head=dict(type='Sa2VASegHead')``) has a Sa2VA counterpart;
DeSa2VA models are exported with ``desa2va_to_hf.py`` (our own folder format).
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
        description="Our Sa2VA-baseline checkpoint -> Sa2VA's Hugging Face release folder "
        '(config.json + safetensors with Sa2VA key names, LoRA merged, tokenizer)')
    parser.add_argument('config', help='the Sa2VA-baseline config (configs/sa2va/*.py)')
    parser.add_argument('checkpoint', help='trained checkpoint (.pth)')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--sa2va-code', default=None,
                        help="Sa2VA's projects/llava_sam2/hf/models folder: its .py files are "
                        'copied into the output (what config.json auto_map names)')
    parser.add_argument('--max-shard-size', type=float, default=5.0,
                        help='largest safetensors file in GB (default 5)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils.internvl_conversion import load_state_dict_files
    from desa2va_mm.utils.sa2va_release import export_sa2va_release

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if (cfg.model.get('seg_head') or {}).get('type') != 'Sa2VASegHead':
        raise SystemExit(f'{args.config}: model.seg_head is '
                         f'{(cfg.model.get("seg_head") or {}).get("type")!r}, not '
                         "'Sa2VASegHead'; only the Sa2VA baseline has a Sa2VA release layout "
                         '(export DeSa2VA with tools/model_converters/desa2va_to_hf.py)')
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    state = load_state_dict_files(args.checkpoint)
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise RuntimeError(f'{args.checkpoint}: {len(result.unexpected_keys)} keys the model '
                           f'does not have, e.g. {result.unexpected_keys[:10]}')
    print(f'loaded {len(state)} tensors from {args.checkpoint}; '
          f'{len(result.missing_keys)} model keys taken from the pretrained files')
    info = export_sa2va_release(model.eval(), args.out, sa2va_code=args.sa2va_code,
                                max_shard_size_gb=args.max_shard_size)
    print(f'wrote {args.out}: {info["num_tensors"]} tensors, files {info["files"]}')
    return info


if __name__ == '__main__':
    main()
