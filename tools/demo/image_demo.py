"""Segment what expressions refer to in an image (or a folder of images).

    python tools/demo/image_demo.py IMG "the red circle" ["the leftmost shape" ...] \
        --config configs/sa2va/sa2va_tiny.py --checkpoint work_dirs/sa2va_tiny/iter_3000.pth \
        --out-dir outputs [--device auto] [--dtype bf16] [--batch-size 4] [--question] \
        [--cfg-options model.mllm.pretrained=PATH model.grounding_encoder.checkpoint=PT]

Writes ``OUT_DIR/vis/<image>.png`` (one row per expression: the mask, the expression and the
model's answer) and ``OUT_DIR/preds/<image>.json`` (answers, predicted IoUs, masks as COCO
RLE at the image's resolution), and prints each answer. ``IMG`` may be a folder: every image
in it gets every expression (progress bar over images). ``--question`` passes the texts
verbatim as the user's turn instead of "Please segment {expression} in this image.".
``--region X1,Y1,X2,Y2`` / ``--region-mask PNG`` give region prompts the texts name as
``region1``, ``region2``... (docs/visual_prompts.md)::

    python tools/demo/image_demo.py IMG "What is region1?" --question \
        --region 10,10,60,60 --config configs/sa2va/sa2va_tiny_vp.py --checkpoint CKPT

``--gcg`` asks for a grounded caption instead (no texts; docs/gcg.md): prints the caption
and each grounded phrase with its mask, writes ``OUT_DIR/vis/<image>_gcg.png`` (each
phrase's mask in its own colour under the caption) and ``OUT_DIR/preds/<image>_gcg.json``
(answer, caption, per phrase its mask as COCO RLE and predicted IoU)::

    python tools/demo/image_demo.py IMG --gcg \
        --config configs/sa2va_gcg_test/sa2va_tiny_synthetic_gcg.py \
        --checkpoint CKPT
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
        description='DeSa2VA image demo: masks + answers for referring expressions')
    parser.add_argument('image', help='image file or folder of images')
    parser.add_argument('texts', nargs='*',
                        help='one or more expressions (or questions); none with --gcg')
    parser.add_argument('--gcg', action='store_true',
                        help='grounded caption: the caption and a mask per grounded phrase '
                        '(docs/gcg.md); texts, if given, replace the GCG question')
    parser.add_argument('--config', required=True, help='model config (.py)')
    parser.add_argument('--checkpoint', default=None,
                        help='checkpoint (.pth); without it the weights are random')
    parser.add_argument('--out-dir', default='outputs', help='where vis/ and preds/ go')
    parser.add_argument('--device', default='auto',
                        help="'auto' (CUDA when available, else the CPU), 'cpu', 'cuda:0' ...")
    parser.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default=None,
                        help="inference precision (default: the config's, bf16 on CUDA for "
                        'the real-size configs): bf16 / fp16 autocast on the device (CUDA '
                        'or CPU), masks and scores float32 either way (docs/inference.md)')
    parser.add_argument('--batch-size', type=int, default=1, help='images per model call')
    parser.add_argument('--question', action='store_true',
                        help='use the texts verbatim as questions (no segmentation template)')
    parser.add_argument('--region', action='append', default=[], metavar='X1,Y1,X2,Y2',
                        help='a region prompt as a pixel box, named region1, region2... in '
                        'the texts in the order given (repeat for several; e.g. --question '
                        '"What is region1?"); docs/visual_prompts.md')
    parser.add_argument('--region-mask', action='append', default=[], metavar='PNG',
                        help='a region prompt as a mask image (non-zero = inside), numbered '
                        'after the --region boxes')
    parser.add_argument('--max-new-tokens', type=int, default=None,
                        help="override the model's answer length budget")
    parser.add_argument('--no-save-pred', action='store_true', help='do not write preds/*.json')
    parser.add_argument('--show', action='store_true', help='also show the overlays')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy pairs (the weight paths of '
                        'real-size configs: docs/real_weights.md)')
    args = parser.parse_args(argv)
    from desa2va_mm.apis.inputs import parse_region_box
    try:
        args.regions = [parse_region_box(r) for r in args.region]
    except ValueError as err:
        parser.error(str(err))
    for path in args.region_mask:
        if not osp.isfile(path):
            parser.error(f'--region-mask {path!r} does not exist')
    args.regions += list(args.region_mask)
    if not osp.exists(args.image):
        parser.error(f'image {args.image!r} does not exist')
    if osp.isdir(args.image):
        from desa2va_mm.apis.inputs import list_images
        try:
            list_images(args.image)
        except ValueError as err:
            parser.error(str(err))
    if not osp.isfile(args.config):
        parser.error(f'config {args.config!r} does not exist')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    if args.gcg:
        if len(args.texts) > 1:
            parser.error('--gcg takes at most one text (the question to ask instead of '
                         "Sa2VA's GCG question)")
        if args.regions:
            parser.error('--gcg does not take region prompts')
        return args
    if not args.texts:
        parser.error('give one or more expressions (or --gcg for a grounded caption)')
    from desa2va_mm.apis.inputs import check_texts
    try:
        check_texts(args.texts, 'texts')
    except ValueError as err:
        parser.error(str(err))
    return args


def run_gcg(inferencer, args) -> list:
    """``--gcg``: a grounded caption of each image, printed and written (overlay, JSON)."""
    import json
    import os

    import mmcv
    import numpy as np

    from desa2va_mm.apis.gcg import draw_grounded_caption, grounded_caption
    from desa2va_mm.apis.inputs import list_images
    from desa2va_mm.structures import encode_mask
    paths = list_images(args.image) if osp.isdir(args.image) else [args.image]
    question = args.texts[0] if args.texts else None
    results = []
    for path in paths:
        result = grounded_caption(inferencer, path, question)
        name = osp.splitext(osp.basename(path))[0]
        print(f'{path}: {result["answer"]}')
        print(f'  caption: {result["caption"]}')
        for k, p in enumerate(result['phrases']):
            print(f'  [{k}] {p["phrase"]!r}: {int(p["mask"].sum())} px '
                  f'(IoU pred {p["score"]:.3f})')
        canvas = draw_grounded_caption(mmcv.imread(path), result)
        mmcv.imwrite(canvas[..., ::-1], osp.join(args.out_dir, 'vis', f'{name}_gcg.png'))
        if not args.no_save_pred:
            record = dict(img_path=path, answer=result['answer'], caption=result['caption'],
                          phrases=[dict(phrase=p['phrase'], score=p['score'],
                                        mask=encode_mask(np.asarray(p['mask'])))
                                   for p in result['phrases']])
            os.makedirs(osp.join(args.out_dir, 'preds'), exist_ok=True)
            with open(osp.join(args.out_dir, 'preds', f'{name}_gcg.json'), 'w') as f:
                json.dump(record, f)
        results.append(result)
    return results


def main(argv=None):
    args = parse_args(argv)
    from desa2va_mm.apis import DeSa2VAInferencer
    config = args.config
    if args.cfg_options:
        from mmengine.config import Config
        config = Config.fromfile(args.config)
        config.merge_from_dict(args.cfg_options)
    inferencer = DeSa2VAInferencer(config, args.checkpoint, device=args.device,
                                   dtype=args.dtype, max_new_tokens=args.max_new_tokens)
    if args.gcg:
        results = run_gcg(inferencer, args)
        print(f'{len(results)} grounded caption(s); overlays in '
              f'{osp.join(args.out_dir, "vis")}')
        return dict(gcg=results)
    result = inferencer(args.image, texts=list(args.texts), batch_size=args.batch_size,
                        template=None if args.question else 'pipeline',
                        out_dir=args.out_dir, no_save_pred=args.no_save_pred,
                        show=args.show, print_result=True,
                        regions=args.regions or None)
    print(f'{len(result["predictions"])} image(s); overlays in '
          f'{osp.join(args.out_dir, "vis")}' +
          ('' if args.no_save_pred else f', predictions in {osp.join(args.out_dir, "preds")}'))
    return result


if __name__ == '__main__':
    main()
