# Copyright (c) OpenMMLab. All rights reserved.
# Adapted from mmdet 3.3's tools/analysis_tools/browse_dataset.py for referring image and
# video datasets.
"""Draw a config's dataset as its pipeline delivers it: masks and the expressions they
answer, to check data before a long run.

    python tools/analysis_tools/browse_dataset.py CONFIG --output-dir browse --not-show
    python tools/analysis_tools/browse_dataset.py CONFIG --phase test --max-samples 20 \
        --output-dir browse --not-show --cfg-options test_dataloader.dataset.data_root=data/x/
    # videos as MP4s (every frame) instead of frame strips
    python tools/analysis_tools/browse_dataset.py configs/desa2va_video/desa2va_tiny_video.py \
        --phase test --video-format mp4 --output-dir browse --not-show

One file per sample, named ``<index>_<image or video name>``:

* images (``.png``): one row per expression, the expression above the image with its
  ground-truth mask in green (``ReferringSegVisualizer``). Training pipelines are drawn as
  the model sees them (after resizing, with the sampled expressions); test pipelines keep
  the ground truth at the original resolution and are drawn on the original image.
* videos: a strip of ``--strip-frames`` frames spread over the clip (``.png``), or an
  ``.mp4`` of every frame (``--video-format mp4``), each expression's mask in its own colour
  with a legend (``desa2va_mm.visualization.video_overlay``). Training samples show the
  sampled frames and expressions; test samples every frame with ``gt_rles`` (a split
  without annotations shows the frames and expressions only).

The visualiser upscales small images (shorter side >= ``--min-size`` pixels) so the text
stays readable. Pipelines whose tokenizer comes from the model (real-size configs) get the
model's tokenizer, or its offline stand-in: tokens are not drawn.
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import List, Tuple

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

#: White gap between the frames of a strip, in pixels.
STRIP_GAP = 6


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Draw the samples of a config\'s dataset after its pipeline (masks and '
        'expressions; videos as frame strips or MP4s)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', default=None,
                        help='save the figures here (without it they are only shown)')
    parser.add_argument('--not-show', action='store_true', help='do not show the figures')
    parser.add_argument('--show-interval', type=float, default=2,
                        help='seconds each figure is shown')
    parser.add_argument('--phase', choices=['train', 'val', 'test'], default='train',
                        help='which dataloader\'s dataset to draw (default train)')
    parser.add_argument('--max-samples', type=int, default=None,
                        help='draw at most this many samples (default: all)')
    parser.add_argument('--video-format', choices=['strip', 'mp4'], default='strip',
                        help='videos as one PNG strip of frames (default) or an MP4')
    parser.add_argument('--strip-frames', type=int, default=6,
                        help='frames in a video strip, spread over the clip (0: all)')
    parser.add_argument('--fps', type=float, default=5.0, help='frame rate of the MP4s')
    parser.add_argument('--seed', type=int, default=None,
                        help='seed the random steps of training pipelines (sampled '
                        'expressions, frames) so a browse can be repeated')
    parser.add_argument('--min-size', type=int, default=320,
                        help='upscale images / frames to at least this shorter side')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, xxx=yyy pairs (key="[a,b]" for lists)')
    parser.add_argument(
        '--allow-new-keys', action='store_true',
        help='let --cfg-options add keys the config does not have (no typo check)')
    args = parser.parse_args(argv)
    if args.output_dir is None and args.not_show:
        parser.error('--not-show without --output-dir draws nothing anywhere: pass '
                     '--output-dir DIR')
    if args.max_samples is not None and args.max_samples < 1:
        parser.error(f'--max-samples must be >= 1, got {args.max_samples}')
    if args.strip_frames < 0:
        parser.error(f'--strip-frames must be >= 0, got {args.strip_frames}')
    return parser, args


# ---------------------------------------------------------------------------- images
def image_figure(sample, inputs, visualizer) -> np.ndarray:
    """One image sample -> ``ReferringSegVisualizer.render`` of its expressions and masks.

    Args:
        sample: The packed ``DetDataSample``.
        inputs: (3, H, W) uint8 BGR tensor the pipeline produced.
        visualizer: A ``ReferringSegVisualizer``.

    Returns:
        (H', W', 3) RGB uint8 figure.
    """
    import mmcv
    meta = sample.metainfo
    texts = [str(t) for t in meta.get('text', [])]
    masks = None
    if meta.get('gt_masks') is not None and meta.get('img_path'):
        # Test pipelines keep the ground truth at the original resolution (for the metric):
        # draw it on the original image.
        image = mmcv.imread(meta['img_path'], channel_order='rgb')
        masks = meta['gt_masks'].to_ndarray()
        if masks.shape[-2:] != image.shape[:2]:
            raise ValueError(f"{meta['img_path']}: gt_masks {masks.shape[-2:]} and the image "
                             f'{image.shape[:2]} differ in size')
    else:
        image = np.ascontiguousarray(inputs.permute(1, 2, 0).numpy()[..., ::-1])
        if 'gt_instances' in sample and 'masks' in sample.gt_instances:
            masks = sample.gt_instances.masks.to_ndarray()
    if masks is not None and len(masks) != len(texts):
        # A sample of masks without one expression each (a detection-style dataset).
        texts = (texts + [''] * len(masks))[:len(masks)]
    return visualizer.render(image, texts, masks, None)


# ---------------------------------------------------------------------------- videos
class VideoSample:
    """The frames, expressions and ground-truth masks of one packed video sample.

    Training samples hold the sampled frames (``inputs``, (T, 3, S, S) uint8 BGR) and
    ``gt_instances.masks`` (E * T, S, S), expression-major; test samples a lazy frame
    source and ``gt_rles`` (E lists of T RLEs, ``None`` = empty) at the original size.
    """

    def __init__(self, sample, inputs) -> None:
        meta = sample.metainfo
        self.video_id = str(meta.get('video_id', 'video'))
        self.texts = [str(t) for t in meta.get('expressions', [])]
        names = list(meta.get('frame_names', []))
        self._masks = self._rles = None
        if 'gt_instances' in sample and 'masks' in sample.gt_instances:
            frames = inputs.numpy()
            self._frames = [np.ascontiguousarray(f.transpose(1, 2, 0)[..., ::-1])
                            for f in frames]
            num = len(self._frames)
            masks = sample.gt_instances.masks.to_ndarray().astype(bool)
            self._masks = masks.reshape(-1, num, *masks.shape[1:])
            ids = list(meta.get('frame_ids', range(num)))
            self.frame_names = [names[i] if i < len(names) else str(i) for i in ids]
            self._read = lambda t: self._frames[t]
        else:
            from desa2va_mm.datasets.video_io import open_frame_source
            source = open_frame_source(inputs if inputs is not None else meta['frame_paths'],
                                       video_id=self.video_id)
            num = len(source)
            self._read = lambda t: np.ascontiguousarray(source[t][..., ::-1])
            self._rles = meta.get('gt_rles')
            self.frame_names = names if len(names) == num else [str(t) for t in range(num)]
        self.num_frames = num

    def frame(self, t: int) -> Tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: ``(rgb (H, W, 3) uint8, masks (E, H, W) bool)``."""
        from desa2va_mm.structures import decode_rle
        rgb = self._read(t)
        if self._masks is not None:
            return rgb, self._masks[:, t]
        masks = np.zeros((len(self.texts), *rgb.shape[:2]), bool)
        if self._rles is not None:
            for e, rles in enumerate(self._rles):
                if rles[t] is not None:
                    masks[e] = decode_rle(rles[t]).astype(bool)
        return rgb, masks


def _overlay(rgb: np.ndarray, masks: np.ndarray, min_size: int) -> np.ndarray:
    """Upscale a frame (shorter side >= ``min_size``) and blend each expression's mask in
    its colour of ``video_overlay.PALETTE``."""
    import cv2

    from desa2va_mm.visualization import overlay_mask
    from desa2va_mm.visualization.video_overlay import PALETTE
    h, w = rgb.shape[:2]
    scale = max(1.0, min_size / min(h, w))
    size = (int(round(w * scale)), int(round(h * scale)))
    canvas = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
    for e, mask in enumerate(masks):
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        canvas = overlay_mask(canvas, mask, PALETTE[e % len(PALETTE)])
    return canvas


def strip_indices(num_frames: int, count: int) -> List[int]:
    """``count`` frame indices spread evenly over the clip, first and last included
    (all frames when ``count`` is 0 or not smaller than the clip)."""
    if count == 0 or num_frames <= count:
        return list(range(num_frames))
    return sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, count)})


def video_strip(video: VideoSample, count: int, min_size: int) -> np.ndarray:
    """One figure: a legend (each expression in its colour), then the frames side by side,
    each under its frame name.

    Returns:
        (H', W', 3) RGB uint8; every frame panel ends at the bottom edge.
    """
    from desa2va_mm.visualization.referring_seg_visualizer import text_strip
    from desa2va_mm.visualization.video_overlay import PALETTE
    panels = []
    for t in strip_indices(video.num_frames, count):
        rgb, masks = video.frame(t)
        frame = _overlay(rgb, masks, min_size)
        label = text_strip([f'frame {video.frame_names[t]}'], frame.shape[1])
        panels.append(np.concatenate([label, frame], axis=0))
    height = max(p.shape[0] for p in panels)
    gap = np.full((height, STRIP_GAP, 3), 255, np.uint8)
    row: List[np.ndarray] = []
    for i, panel in enumerate(panels):
        # Pad above so every frame ends at the bottom edge.
        panel = np.pad(panel, ((height - panel.shape[0], 0), (0, 0), (0, 0)),
                       constant_values=255)
        row += ([gap] if i else []) + [panel]
    frames = np.concatenate(row, axis=1)
    width = frames.shape[1]
    blocks = [text_strip([f'{video.video_id}: {video.num_frames} frames, ground truth of '
                          f'{len(video.texts)} expression(s)'], width)]
    for e, text in enumerate(video.texts):
        block = text_strip([f'[{e}] "{text}"'], width)
        block[3:-3, 0:6] = PALETTE[e % len(PALETTE)]
        blocks.append(block)
    return np.concatenate(blocks + [frames], axis=0)


def write_video_mp4(video: VideoSample, path: str, fps: float, min_size: int) -> int:
    """Every frame with its masks and the legend (``video_overlay.draw_masks``) to an MP4;
    returns the number of frames written."""
    from desa2va_mm.visualization.video_overlay import VideoWriter, draw_masks
    with VideoWriter(path, fps=fps) as writer:
        for t in range(video.num_frames):
            rgb, masks = video.frame(t)
            writer.write(draw_masks(rgb, masks, video.texts, min_size=min_size,
                                    header=f'{video.video_id} frame {video.frame_names[t]}'))
    return video.num_frames


# ---------------------------------------------------------------------------- main
def _give_tokenizers(dataset, cfg, where: str) -> None:
    """Pipelines whose tokenizer comes from the model (``tokenizer=None``) receive the one
    the model would build: from ``model.mllm.pretrained`` when that folder exists, else the
    config's offline stand-in. Tokens are not drawn; the pipeline only has to run."""
    from desa2va_mm.engine.hooks.model_tokenizer_hook import iter_tokenize_transforms
    from desa2va_mm.registry import TOKENIZERS
    missing = [t for t, _ in iter_tokenize_transforms(dataset, where)
               if not t.has_own_tokenizer]
    if not missing:
        return
    mllm = (cfg.get('model') or {}).get('mllm') or {}
    tokenizer_cfg = dict(mllm.get('tokenizer') or dict(type='InternVLTokenizer', path=None))
    pretrained = mllm.get('pretrained')
    if tokenizer_cfg.get('path') is None and pretrained and osp.isdir(str(pretrained)):
        tokenizer_cfg['path'] = pretrained
    tokenizer = TOKENIZERS.build(tokenizer_cfg)
    template = mllm.get('chat_template') or 'qwen2'
    for transform in missing:
        transform.set_tokenizer(tokenizer, transform.template_name or template)
    print(f'{where}: {len(missing)} pipeline(s) take the tokenizer '
          f'{tokenizer_cfg.get("path") or "stand-in"} (tokens are not drawn)')


def main(argv=None) -> List[str]:
    """Draw the samples; returns the files written."""
    parser, args = parse_args(argv)
    from tools.cli_utils import load_config, merge_cfg_options
    cfg, args.config = load_config(parser, args.config)
    merge_cfg_options(parser, cfg, args)
    loader_key = f'{args.phase}_dataloader'
    loader = cfg.get(loader_key)
    if not loader or not loader.get('dataset'):
        parser.error(f'{args.config} has no `{loader_key}.dataset` (pick another --phase)')

    from mmengine.registry import init_default_scope
    from mmengine.utils import ProgressBar

    from desa2va_mm.registry import DATASETS
    from desa2va_mm.utils import register_all_modules
    from desa2va_mm.visualization import ReferringSegVisualizer
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'desa2va_mm'))
    if args.seed is not None:
        from mmengine.runner import set_random_seed
        set_random_seed(args.seed)
    dataset = DATASETS.build(loader.dataset)
    _give_tokenizers(dataset, cfg, f'{loader_key}.dataset')
    visualizer = ReferringSegVisualizer(name=f'browse_dataset_{time.time_ns()}',
                                        min_size=args.min_size)
    if args.output_dir is not None:
        os.makedirs(args.output_dir, exist_ok=True)

    count = len(dataset) if args.max_samples is None else min(args.max_samples, len(dataset))
    print(f'drawing {count} of {len(dataset)} samples of {loader_key}.dataset'
          + (f' -> {args.output_dir}' if args.output_dir else ''))
    written: List[str] = []
    progress = ProgressBar(count, file=sys.stdout)
    for index in range(count):
        item = dataset[index]
        sample, inputs = item['data_samples'], item.get('inputs')
        if sample.metainfo.get('is_video', False):
            video = VideoSample(sample, inputs)
            stem = f'{index:05d}_{video.video_id}'
            if args.video_format == 'mp4' and args.output_dir is not None:
                path = osp.join(args.output_dir, stem + '.mp4')
                write_video_mp4(video, path, args.fps, args.min_size)
                written.append(path)
                figure = None
            else:
                figure = video_strip(video, args.strip_frames, args.min_size)
        else:
            stem = f'{index:05d}_' + osp.splitext(
                osp.basename(str(sample.metainfo.get('img_path', 'image'))))[0]
            figure = image_figure(sample, inputs, visualizer)
        if figure is not None:
            if args.output_dir is not None:
                import mmcv
                path = osp.join(args.output_dir, stem + '.png')
                mmcv.imwrite(figure[..., ::-1], path)
                written.append(path)
            if not args.not_show:
                visualizer.show(figure, win_name=stem, wait_time=args.show_interval)
        progress.update()
    if args.output_dir is not None:
        print(f'\n{len(written)} file(s) written to {args.output_dir}')
    return written


if __name__ == '__main__':
    main()
