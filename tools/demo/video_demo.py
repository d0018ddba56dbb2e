"""Segment what expressions refer to through a video (mp4 or a folder of frames).

    python tools/demo/video_demo.py VIDEO "the red circle" ["the moving star" ...] \
        --config configs/sa2va/sa2va_tiny.py --checkpoint work_dirs/sa2va_tiny/iter_3000.pth \
        --out-dir outputs [--device auto] [--dtype bf16] [--key-frames 5] \
        [--key-frame-strategy first] [--fps 10] [--save-frames]

The MLLM reads the key frames (one InternVL tile each) and answers each expression; every
``[SEG]`` of its answer is decoded on the key frames and SAM-2's memory tracks each through
the other frames, one frame in memory at a time. Writes ``OUT_DIR/<video>.mp4`` (every
tracked object's mask in its own colour, the expressions and answers above each frame),
with ``--save-frames`` also ``OUT_DIR/<video>/<frame>.png``, and ``OUT_DIR/<video>.json``
(answers, per-frame RLE masks: ``masks`` each answer's first ``[SEG]``, ``seg_masks`` every
``[SEG]`` in answer order). A progress bar runs over the frames.
``--region X1,Y1,X2,Y2`` / ``--region-mask PNG`` draw region prompts on a key frame
(``--region-frame``, default 0) that the texts name as ``region1``...; the answer's
``[SEG]`` is tracked through the video (docs/visual_prompts.md)::

    python tools/demo/video_demo.py VIDEO "the object like region1" --region 20,20,70,70 \
        --config configs/sa2va/sa2va_tiny_vp.py --checkpoint CKPT
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='DeSa2VA video demo: tracked masks + answers for referring expressions')
    parser.add_argument('video', help='video file (.mp4 ...) or folder of frames')
    parser.add_argument('texts', nargs='+', help='one or more expressions')
    parser.add_argument('--config', required=True, help='model config (.py)')
    parser.add_argument('--checkpoint', default=None,
                        help='checkpoint (.pth); without it the weights are random')
    parser.add_argument('--out-dir', default='outputs', help='where the MP4 / PNGs go')
    parser.add_argument('--device', default='auto',
                        help="'auto' (CUDA when available, else the CPU), 'cpu', 'cuda:0' ...")
    parser.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default=None,
                        help="inference precision (default: the config's, bf16 on CUDA for "
                        'the real-size configs): bf16 / fp16 autocast on the device (CUDA '
                        'or CPU), masks and scores float32 either way (docs/inference.md)')
    parser.add_argument('--key-frames', type=int, default=None,
                        help="frames the MLLM reads (default: the config's video test "
                        'pipeline, Sa2VA: 5)')
    parser.add_argument('--key-frame-strategy', choices=['first', 'uniform'], default=None,
                        help="which frames (default: the config's, Sa2VA: 'first')")
    parser.add_argument('--fps', type=float, default=10.0, help='frame rate of the MP4')
    parser.add_argument('--save-frames', action='store_true', help='also write PNG frames')
    parser.add_argument('--question', action='store_true',
                        help="use the texts verbatim (not in the pipeline's question "
                        '"Please segment ... in this video.")')
    parser.add_argument('--region', action='append', default=[], metavar='X1,Y1,X2,Y2',
                        help='a region prompt as a pixel box, named region1, region2... in '
                        'the texts in the order given (repeat for several; e.g. --question '
                        '"What is region1?"); docs/visual_prompts.md')
    parser.add_argument('--region-mask', action='append', default=[], metavar='PNG',
                        help='a region prompt as a mask image (non-zero = inside), numbered '
                        'after the --region boxes')
    parser.add_argument('--region-frame', type=int, default=0,
                        help='the frame the regions are drawn on (a key frame; default 0)')
    parser.add_argument('--max-new-tokens', type=int, default=None)
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
    if not osp.isfile(args.config):
        parser.error(f'config {args.config!r} does not exist')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    if args.key_frames is not None and args.key_frames < 1:
        parser.error('--key-frames must be >= 1')
    from desa2va_mm.apis.inputs import check_texts, open_video
    try:
        with open_video(args.video):  # a missing, empty or corrupt video fails here
            pass
        check_texts(args.texts, 'texts')
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    return args


def main(argv=None):
    args = parse_args(argv)
    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.structures import encode_masks
    inferencer = DeSa2VAInferencer(args.config, args.checkpoint, device=args.device,
                                   dtype=args.dtype, max_new_tokens=args.max_new_tokens)
    result = inferencer.predict_video(
        args.video, list(args.texts), num_key_frames=args.key_frames,
        key_frame_strategy=args.key_frame_strategy,
        template=None if args.question else 'pipeline', out_dir=args.out_dir,
        fps=args.fps, save_frames=args.save_frames, regions=args.regions or None,
        region_frame=args.region_frame)
    record = dict(video_id=result['video_id'], frame_names=result['frame_names'],
                  key_frame_ids=result['key_frame_ids'], texts=result['texts'],
                  answers=result['answers'], scores=result['scores'].tolist(),
                  masks=[encode_masks(m) for m in result['masks']],
                  # Every [SEG] of each answer: per expression, one masklet per object.
                  seg_masks=[[encode_masks(m) for m in per] for per in result['seg_masks']])
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, f'{result["video_id"]}.json'), 'w') as f:
        json.dump(record, f)
    for text, answer, per_seg in zip(result['texts'], result['answers'], result['seg_masks']):
        shown = ', '.join(f'[SEG {k + 1}] on {int(m.any(axis=(1, 2)).sum())}'
                          for k, m in enumerate(per_seg)) or 'no [SEG]: no mask'
        print(f'"{text}" -> "{answer}" ({shown} of {len(result["frame_names"])} frames)')
    print(f'overlay video: {result["out_file"]}')
    return result


if __name__ == '__main__':
    main()
