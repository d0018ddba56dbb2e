"""Our streaming ``SAM2VideoTracker`` against sam2's ``SAM2VideoPredictor``: masks, time, memory.

Both run on the same SAM-2 weights (random, seeded; a small noise on every parameter so
no path is zero) and the same first-frame mask prompt:

* ours: ``SAM2VideoTracker`` (Sa2VA mode, the default) streams the frames one at a time;
  frame 0 is a key frame whose mask is the prompt (SAM-2's ``use_mask_input_as_output``
  path: the mask as +-10 logits, the object pointer from a decode prompted with it),
  every other frame is tracked through the bounded memory bank;
* sam2: ``init_state`` on a folder of JPEG frames, ``add_new_mask(frame_idx=0,
  obj_id=1, mask)``, ``propagate_in_video``. It keeps every frame (``images``) and every
  frame's outputs (``output_dict_per_obj``) for the whole video.

``--check`` compares the two frame by frame on the very same input tensor (the
predictor's loaded frames are replaced by ours, so the resize / normalisation arithmetic
is not what is compared) and prints the largest logit difference and the mask IoU per
frame. The predictor is configured like Sa2VA's (``--postprocessing sa2va``: dynamic
multimask fallback only) or like sam2's stock builder (``stock``: also
``binarize_mask_from_pts_for_mem_enc`` and ``fill_hole_area=8``; the tracker reads the
same model settings). Our tracker stores the spatial memories in bfloat16 here
(``memory_dtype='bfloat16'``), as the predictor does. Where SAM-2's decoder says "no
object" the predictor outputs -1024 and Sa2VA's mode keeps the raw logits (docs/method.md
§12); ``--object-bias`` shifts the decoders' object-score bias to reach either case.

Timing (default): peak RSS of each (side, length) in a fresh subprocess; time with both
sides in one process, stepped frame by frame in turn so that load changes on a shared
machine hit both alike. Both sides do the same work, timed in two spans: ``load`` (JPEG
decode, resize, normalisation: all frames up front in ``init_state``, one per step in
ours) and ``model`` (everything else). Printed side by side with ours / sam2 ratios:
milliseconds per frame end to end (load + model) in wall time and in thread CPU time (with
one thread, the CPU time moves far less with other jobs' load), the CPU time of each
span per frame, peak RSS and how many frames' outputs each side holds at
the end. Goals: our per-frame time <= 1.0x the predictor's; our peak RSS flat in video
length (<= 1.1x from the shortest to the longest video) where the predictor's grows.

    python tools/analysis_tools/benchmark_tracker_vs_sam2.py --check [--frames 6] \
        [--object-bias 10] [--postprocessing sa2va|stock|none] \
        [--object-score-source decoder] [--seed 1]
    python tools/analysis_tools/benchmark_tracker_vs_sam2.py [--lengths 32 128 512]
    python tools/analysis_tools/benchmark_tracker_vs_sam2.py --size large \\
        --image-size 256 --lengths 32 128

``--size large`` is sam2's ``sam2_hiera_l.yaml`` architecture (random weights) at
``--image-size`` (1024 by default, slow on a CPU).
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

#: The tiny SAM-2 of the tiny configs (its grounding encoder is read from this config).
TINY_MODEL_CONFIG = 'configs/_base_/models/desa2va_tiny_video.py'
LARGE_SAM2_CONFIG = 'configs/sam2/sam2_hiera_l.yaml'
#: Predictor settings beyond the yaml (``build_sam2_video_predictor``'s post-processing).
#: ``sa2va``: what Sa2VA's ``SAM2`` wrapper adds (its binarize / fill-hole lines are
#: commented out); ``stock``: sam2's own builder with ``apply_postprocessing=True``.
#: ``fill_hole_area`` needs sam2's CUDA extension: without it sam2 warns and skips it.
DYNAMIC_MULTIMASK = dict(sam_mask_decoder_extra_args=dict(
    dynamic_multimask_via_stability=True, dynamic_multimask_stability_delta=0.05,
    dynamic_multimask_stability_thresh=0.98))
POSTPROCESSING = {
    'none': ({}, {}),
    'sa2va': (DYNAMIC_MULTIMASK, {}),
    'stock': (dict(DYNAMIC_MULTIMASK, binarize_mask_from_pts_for_mem_enc=True),
              dict(fill_hole_area=8)),
}


# ---------------------------------------------------------------------------- models
def sam2_config(size: str, image_size: Optional[int] = None):
    """``(sam2 config name, overrides)`` of the tiny SAM-2 or hiera-L proportions."""
    if size == 'tiny':
        from mmengine.config import Config
        cfg = Config.fromfile(osp.join(REPO_ROOT, TINY_MODEL_CONFIG))
        grounding = cfg.model.grounding_encoder
        name, overrides = grounding.config, grounding.overrides.to_dict()
    elif size == 'large':
        name, overrides = LARGE_SAM2_CONFIG, {}
    else:
        raise ValueError(f"--size must be 'tiny' or 'large', got {size!r}")
    if image_size is not None:
        if image_size % 16:
            raise ValueError(f'--image-size must be a multiple of 16, got {image_size}')
        side = image_size // 16
        overrides['image_size'] = image_size
        attention = overrides.setdefault('memory_attention', {}).setdefault('layer', {})
        for key in ('self_attention', 'cross_attention'):
            attention.setdefault(key, {})['feat_sizes'] = [side, side]
    return name, overrides


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def perturb_(module, seed: int, object_bias: float = 0.0) -> None:
    """Add N(0, 0.02) noise to every parameter (a fresh SAM-2 zero-initialises many, e.g.
    ``no_obj_ptr``) and shift the object-score bias of the decoder by ``object_bias``."""
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(module.named_parameters()):
            param.add_(torch.randn(param.shape, generator=generator) * 0.02)
        if object_bias:
            module.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(object_bias)


def build_grounding(size: str = 'tiny', image_size: Optional[int] = None,
                    postprocessing: str = 'sa2va', seed: int = 0, object_bias: float = 0.0):
    """Our ``SAM2Grounding`` with seeded, perturbed random weights (eval mode)."""
    import torch
    from desa2va_mm.models.grounding.sam2_grounding import SAM2Grounding
    name, overrides = sam2_config(size, image_size)
    torch.manual_seed(seed)
    grounding = SAM2Grounding(config=name,
                              overrides=_merge(overrides, POSTPROCESSING[postprocessing][0]))
    perturb_(grounding.sam2, seed + 1, object_bias)
    return grounding.eval()


def build_predictor(size: str = 'tiny', image_size: Optional[int] = None,
                    postprocessing: str = 'sa2va', state_dict: Optional[dict] = None,
                    seed: int = 0, object_bias: float = 0.0):
    """sam2's ``SAM2VideoPredictor`` from the same config (eval mode).

    Args:
        state_dict: Weights to load strictly (our grounding's ``sam2``); None: seeded,
            perturbed random weights as :func:`build_grounding` makes them.
    """
    import sam2  # noqa: F401  (initialises Hydra's config module)
    import torch
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from desa2va_mm.models.grounding.sam2_grounding import flatten_overrides
    name, overrides = sam2_config(size, image_size)
    model_extra, predictor_extra = POSTPROCESSING[postprocessing]
    hydra = ['++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor']
    hydra += flatten_overrides(_merge(_merge(overrides, model_extra), predictor_extra))
    cfg = compose(config_name=name, overrides=hydra)
    OmegaConf.resolve(cfg)
    torch.manual_seed(seed)
    predictor = instantiate(cfg.model, _recursive_=True)
    if state_dict is not None:
        predictor.load_state_dict(state_dict, strict=True)
    else:
        perturb_(predictor, seed + 1, object_bias)
    return predictor.eval()


def build_mask_prompted_head(grounding, multimask_output: bool = True):
    """A mask-prompted ``Sa2VASegHead`` (:func:`mask_prompted_head_class`) whose decoder
    is a copy of SAM-2's; multimask tracking as sam2's configs and the real-size heads."""
    from mmengine.registry import DefaultScope
    import desa2va_mm  # noqa: F401  (registers the modules)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        head = mask_prompted_head_class()(
            in_channels=1, decoder_kwargs=grounding.mask_decoder_kwargs(),
            mask_head=dict(type='SAM2MaskHead', multimask_output=multimask_output))
    head.init_from_decoder(grounding.mask_decoder)
    return head.eval()


def mask_prompted_head_class():
    """The head class (defined on first use: ``--help`` imports no model code)."""
    from desa2va_mm.models.seg_heads.sa2va_seg_head import Sa2VASegHead

    class MaskPromptedSegHead(Sa2VASegHead):
        """``Sa2VASegHead`` whose key frames are prompted with masks, as SAM-2's
        ``add_new_mask``: tracked frames are its own (``decode_tracked``), key frames go
        through SAM-2's ``use_mask_input_as_output_without_sam`` path.

        Set :attr:`mask_inputs` (E, 1, S, S) binary masks before tracking; the tracker's
        ``seg_hidden`` then only gives the number of objects E.
        """

        mask_inputs = None

        def decode(self, grounding, image_feats, seg_hidden, image_idx):
            """The prompt mask as +-10 logits, and SAM-2's pointer decode of it.

            SAM-2 (``_use_mask_as_output``) decodes the features *without*
            ``no_mem_embed`` with one padding point and the mask (through
            ``mask_downsample``) as the dense prompt, with its own decoder; the
            pointer comes from that decode's single mask token.
            """
            import torch
            import torch.nn.functional as F

            from desa2va_mm.models.seg_heads.seg_decode_result import SegDecodeResult
            if self.mask_inputs is None:
                raise RuntimeError('MaskPromptedSegHead: set head.mask_inputs (E, 1, S, S) '
                                   'before tracking')
            sam2 = grounding.sam2
            mask = self.mask_inputs.float()
            num = mask.shape[0]
            embed = image_feats['image_embed']
            if sam2.directly_add_no_mem_embed:
                embed = embed - sam2.no_mem_embed.view(1, -1, 1, 1)
            embed = embed.index_select(0, image_idx)
            decoder = sam2.sam_mask_decoder
            high_res = None
            if sam2.use_high_res_features_in_sam:
                raw = image_feats['high_res_feats']
                high_res = [decoder.conv_s0(raw[0]).index_select(0, image_idx),
                            decoder.conv_s1(raw[1]).index_select(0, image_idx)]
            high = mask * 20.0 - 10.0
            low = F.interpolate(high, size=(high.shape[-2] // 4, high.shape[-1] // 4),
                                mode='bilinear', align_corners=False, antialias=True)
            coords = torch.zeros(num, 1, 2, device=mask.device)
            labels = -torch.ones(num, 1, dtype=torch.int32, device=mask.device)
            sparse, dense = sam2.sam_prompt_encoder(points=(coords, labels), boxes=None,
                                                    masks=sam2.mask_downsample(mask))
            _, iou, tokens, object_score = decoder(
                image_embeddings=embed, image_pe=sam2.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=False, repeat_image=False, high_res_features=high_res)
            return SegDecodeResult(final_logits=low, iou_pred=low.new_ones(num),
                                   object_score_logits=object_score.reshape(-1),
                                   mask_tokens=tokens, multi_iou=iou)

        def tracking_prompt(self, seg_hidden):
            # Sa2VA mode tracks with SAM-2's padding prompts only: the token is unused.
            return seg_hidden.new_zeros(seg_hidden.shape[0], self.prompt_channels)

    return MaskPromptedSegHead


# ---------------------------------------------------------------------------- data
def synthetic_video(num_frames: int, size: int, seed: int = 0):
    """A square moving over a smooth random texture (which JPEG keeps):
    ``(frames (N, S, S, 3) uint8 RGB, mask of the square on frame 0 (S, S) bool)``."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, size // 8), max(2, size // 8), 3), dtype=np.uint8)
    background = np.array(Image.fromarray(coarse).resize((size, size), Image.BILINEAR))
    side = max(4, size // 4)
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    mask0 = None
    for t in range(num_frames):
        frame = np.roll(background, t, axis=1).copy()
        y = size // 3 + int(round(size / 8 * np.sin(t / 5)))
        x = (size // 4 + 2 * t) % (size - side)
        frame[y:y + side, x:x + side] = (230, 40, 40)
        frames[t] = frame
        if t == 0:
            mask0 = np.zeros((size, size), dtype=bool)
            mask0[y:y + side, x:x + side] = True
    return frames, mask0


def write_jpeg_folder(frames: np.ndarray, folder: str) -> str:
    """Frames as ``<index>.jpg`` (quality 95, no chroma subsampling), the layout
    ``init_state`` reads."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(osp.join(folder, f'{t:05d}.jpg'), quality=95,
                                    subsampling=0)
    return folder


def read_jpeg_folder(folder: str) -> Iterator[np.ndarray]:
    """The folder's frames in order, one (H, W, 3) uint8 RGB array at a time (decoded by
    PIL as ``init_state`` decodes them; an RGB JPEG is not converted, which would copy)."""
    from PIL import Image
    names = sorted((n for n in os.listdir(folder) if n.endswith('.jpg')),
                   key=lambda n: int(osp.splitext(n)[0]))
    for name in names:
        with Image.open(osp.join(folder, name)) as img:
            img.load()
            yield np.asarray(img if img.mode == 'RGB' else img.convert('RGB'))


def normalise(frames: np.ndarray):
    """(N, S, S, 3) uint8 RGB -> (N, 3, S, S) float32 SAM-2 input (ImageNet mean / std)."""
    import torch
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    return (images / 255.0 - mean) / std


# ---------------------------------------------------------------------------- runs
def make_tracker(memory_dtype: Optional[str] = 'bfloat16', **settings):
    from desa2va_mm.models.grounding.sam2_video_tracker import SAM2VideoTracker
    return SAM2VideoTracker(memory_dtype=memory_dtype, **settings)


def track_ours(grounding, head, tracker, frames: Iterator, mask, num_frames: int
               ) -> Iterator[SimpleNamespace]:
    """Our tracker on streamed frames ((1, 3, S, S) each), frame 0 prompted by ``mask``.

    Yields:
        One namespace per frame: ``logits`` (1, 1, S/4, S/4) low-res logits,
        ``seconds`` the time the frame took (reading it included).
    """
    import torch
    head.mask_inputs = torch.as_tensor(mask).view(1, 1, *mask.shape[-2:]).float()
    tracker.bind(grounding)
    stream = (SimpleNamespace(image=image) for image in frames)
    with torch.inference_mode():
        start = time.perf_counter()
        for out in tracker.track(stream, head, torch.zeros(1, 1), [0],
                                 num_frames=num_frames):
            now = time.perf_counter()
            yield SimpleNamespace(logits=out.logits, seconds=now - start)
            start = time.perf_counter()


def init_predictor_state(predictor, jpeg_folder: str, images=None, **init_kwargs) -> dict:
    """``init_state`` on the folder; ``images`` (N, 3, S, S) replaces what it loaded.

    With ``images`` the video size is set to S/4, so the predictor's outputs are its
    low-res logits as they are (no resize to the video size).
    """
    state = predictor.init_state(jpeg_folder, **init_kwargs)
    if images is not None:
        if tuple(images.shape[1:]) != tuple(state['images'].shape[1:]):
            raise ValueError(f'images {tuple(images.shape)} do not match the predictor\'s '
                             f'frames {tuple(state["images"].shape)}')
        state['images'] = images
        state['cached_features'] = {}
        state['video_height'] = state['video_width'] = predictor.image_size // 4
    return state


def track_predictor(predictor, state: dict, mask) -> Iterator[SimpleNamespace]:
    """``add_new_mask`` on frame 0 (object 1) and ``propagate_in_video``."""
    import torch
    predictor.add_new_mask(state, frame_idx=0, obj_id=1, mask=torch.as_tensor(mask))
    start = time.perf_counter()
    for frame_idx, _, masks in predictor.propagate_in_video(state):
        now = time.perf_counter()
        yield SimpleNamespace(frame_idx=frame_idx, logits=masks, seconds=now - start)
        start = time.perf_counter()


def compare(ours: Sequence, theirs: Sequence) -> List[Dict[str, float]]:
    """Per frame: largest |logit difference| and IoU of the masks (logits > 0)."""
    rows = []
    for t, (a, b) in enumerate(zip(ours, theirs)):
        a, b = a.float(), b.float()
        pa, pb = a > 0, b > 0
        union = (pa | pb).sum().item()
        iou = (pa & pb).sum().item() / union if union else 1.0
        rows.append(dict(frame=t, max_abs_diff=(a - b).abs().max().item(), iou=iou,
                         ours_fg=int(pa.sum()), sam2_fg=int(pb.sum()),
                         sam2_no_object=bool((b <= -1024.0).all())))
    return rows


def run_check(num_frames: int = 6, size: str = 'tiny', image_size: Optional[int] = None,
              postprocessing: str = 'sa2va', object_bias: float = 0.0,
              object_score_source: str = 'none', memory_dtype: Optional[str] = 'bfloat16',
              multimask_output: bool = True, seed: int = 0) -> List[Dict[str, float]]:
    """Both on the same weights, input tensor and mask; :func:`compare`'s rows."""
    import torch
    grounding = build_grounding(size, image_size, postprocessing, seed, object_bias)
    predictor = build_predictor(size, image_size, postprocessing,
                                state_dict=grounding.sam2.state_dict())
    head = build_mask_prompted_head(grounding, multimask_output)
    tracker = make_tracker(memory_dtype, object_score_source=object_score_source)
    side = grounding.image_size
    frames, mask = synthetic_video(num_frames, side, 0)
    images = normalise(frames)
    ours = [o.logits for o in track_ours(grounding, head, tracker,
                                         (images[t:t + 1] for t in range(num_frames)),
                                         mask, num_frames)]
    with tempfile.TemporaryDirectory() as tmp:
        state = init_predictor_state(predictor, write_jpeg_folder(frames, tmp), images)
        theirs = [o.logits for o in track_predictor(predictor, state, mask)]
    return compare(ours, theirs)


# ---------------------------------------------------------------------------- timing
def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _quiet_sam2_warnings() -> None:
    import warnings
    warnings.filterwarnings('ignore', message='cannot import name')  # sam2's CUDA ext


def build_side(who: str, size: str, image_size: Optional[int],
               memory_dtype: Optional[str] = 'bfloat16', state_dict: Optional[dict] = None):
    """What one side needs to run: ours (grounding, head, tracker, frame preparation) or
    the predictor. ``state_dict``: the predictor's weights (default: its own seeded ones)."""
    if who == 'ours':
        from desa2va_mm.models.data_preprocessors import ReferringDataPreprocessor
        grounding = build_grounding(size, image_size, 'sa2va')
        # The data preprocessor's streamed-frame path (PIL bicubic, as Sa2VA), RGB in.
        prep = ReferringDataPreprocessor(bgr_to_rgb=False, frame_size=grounding.image_size,
                                         frame_resize='pillow')
        return SimpleNamespace(grounding=grounding, head=build_mask_prompted_head(grounding),
                               tracker=make_tracker(memory_dtype), prep=prep)
    return SimpleNamespace(predictor=build_predictor(size, image_size, 'sa2va', state_dict))


def run_side(who: str, built: SimpleNamespace, folder: str, mask, num: int) -> dict:
    """One video through one side, frames read from ``folder``: end-to-end seconds, the
    tracked frames' seconds and how many frames' outputs the side still holds."""
    import torch
    start = time.perf_counter()
    if who == 'ours':
        frames = (built.prep.prepare_frame(f) for f in read_jpeg_folder(folder))
        seconds = [o.seconds for o in track_ours(built.grounding, built.head, built.tracker,
                                                 frames, mask, num)]
        kept = len(built.tracker.memory_bank)
    else:
        with torch.inference_mode():
            state = built.predictor.init_state(folder)
            seconds = [o.seconds for o in track_predictor(built.predictor, state, mask)]
        outputs = state['output_dict_per_obj'][0]
        kept = len(outputs['cond_frame_outputs']) + len(outputs['non_cond_frame_outputs'])
    total = time.perf_counter() - start
    if len(seconds) != num:
        raise RuntimeError(f'{who}: {len(seconds)} frames out of {num} in {folder}')
    return dict(total_s=total, tracked_s=seconds[1:], frames_kept=kept)


def run_child(args) -> dict:
    """One side on one video length in this fresh process: peak RSS (and one timing)."""
    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    _quiet_sam2_warnings()
    side = sam2_config(args.size, args.image_size)[1].get('image_size', 1024)
    num = args.child_frames
    _, mask = synthetic_video(1, side, 0)
    built = build_side(args.child, args.size, args.image_size, args.memory_dtype)
    out = run_side(args.child, built, osp.join(args.video_dir, f'{side}_{num}'), mask, num)
    return dict(side=args.child, frames=num, total_per_frame_s=out['total_s'] / num,
                peak_rss_mb=_peak_rss_mb(), frames_kept=out['frames_kept'])


class _Clock:
    """Wall and CPU seconds of one span (``time.thread_time``: the CPU time of this
    thread, which other jobs on a shared machine barely move when torch runs on one
    thread)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> '_Clock':
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.thread_time() - self._cpu


@contextlib.contextmanager
def _timed_method(obj, name: str) -> Iterator[_Clock]:
    """Time every call of ``obj.name`` made inside the block (one :class:`_Clock`)."""
    clock, method = _Clock(), getattr(obj, name)

    def timed(*args, **kwargs):
        with clock:
            return method(*args, **kwargs)
    setattr(obj, name, timed)
    try:
        yield clock
    finally:
        delattr(obj, name)  # back to the class's method


def lockstep_run(ours: SimpleNamespace, sam2: SimpleNamespace, folder: str, mask,
                 num: int) -> Dict[str, dict]:
    """Both sides on one video, frame by frame in turn (which side goes first alternates),
    so that load changes on a shared machine hit both alike.

    The same work is timed on both sides, split in two spans:

    * ``load``: reading the JPEG frames, resizing and normalising them. The predictor's
      ``init_state`` does it for every frame up front; ours inside the model's frame
      stream (PIL decode, then ``FrameStream`` reading and preparing
      ``frame_read_ahead`` frames at a time), timed apart from the step it happens in.
    * ``model``: everything else: the predictor's frame-0 image encoding (which
      ``init_state`` runs as a warm-up after loading), ``add_new_mask`` and every
      ``propagate_in_video`` step; ours every ``track`` step less its frame's load.

    Returns:
        Per side, seconds of the whole video: ``load_s`` / ``load_cpu_s``, ``model_s`` /
        ``model_cpu_s`` (wall / thread CPU time), and ``tracked_s``: the model wall
        seconds of each frame after the first.
    """
    import torch
    load = dict(ours=_Clock(), sam2=_Clock())
    model = dict(ours=_Clock(), sam2=_Clock())

    def our_frames():
        # The product's stream (FrameStream, the preprocessor's frame_read_ahead): each
        # frame's read and preparation is timed as load wherever the stream does it.
        stream = iter(ours.prep.stream_frames(read_jpeg_folder(folder)))
        while True:
            with load['ours']:
                frame = next(stream, None)
                image = None if frame is None else frame.image
            if image is None:
                return
            yield image

    with torch.inference_mode():
        with load['sam2']:
            with _timed_method(sam2.predictor, '_get_image_feature') as warm_up:
                state = sam2.predictor.init_state(folder)
        # init_state ends by encoding frame 0 (its "warm up"): model work, not load.
        load['sam2'].wall -= warm_up.wall
        load['sam2'].cpu -= warm_up.cpu
        model['sam2'].wall += warm_up.wall
        model['sam2'].cpu += warm_up.cpu
        with model['sam2']:
            sam2.predictor.add_new_mask(state, frame_idx=0, obj_id=1,
                                        mask=torch.as_tensor(mask))
        steps = dict(
            ours=track_ours(ours.grounding, ours.head, ours.tracker, our_frames(), mask, num),
            sam2=sam2.predictor.propagate_in_video(state))
        tracked = {who: [] for who in steps}
        try:
            for t in range(num):
                for who in (('sam2', 'ours') if t % 2 == 0 else ('ours', 'sam2')):
                    before_wall, before_load = model[who].wall, load[who].wall
                    with model[who]:
                        next(steps[who])
                    # Ours loads its frame inside the step: move that span to ``load``.
                    model[who].wall -= load[who].wall - before_load if who == 'ours' else 0.0
                    tracked[who].append(model[who].wall - before_wall)
        finally:
            # Close both streams here, inside this inference_mode block: a generator's own
            # inference_mode block, left open at its last yield and closed later by the
            # garbage collector, would switch inference mode back on for whatever runs then.
            for stream in steps.values():
                stream.close()
        model['ours'].cpu -= load['ours'].cpu
    return {who: dict(load_s=load[who].wall, load_cpu_s=load[who].cpu,
                      model_s=model[who].wall, model_cpu_s=model[who].cpu,
                      tracked_s=tracked[who][1:]) for who in ('ours', 'sam2')}


def interleaved_times(size: str, image_size: Optional[int], folders: Dict[int, str],
                      repeats: int, memory_dtype: Optional[str] = 'bfloat16'
                      ) -> Dict[tuple, dict]:
    """Seconds per frame of both sides in one process (:func:`lockstep_run`), ``repeats``
    runs per length. Per (side, length), medians over the runs of the seconds per frame:
    ``total`` / ``total_cpu`` (load + model, wall / CPU), ``load_cpu``, ``model_cpu`` and
    ``tracked`` (the mean tracked frame's model wall seconds)."""
    import statistics

    import torch
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    _quiet_sam2_warnings()
    ours = build_side('ours', size, image_size, memory_dtype)
    sam2 = build_side('sam2', size, image_size, state_dict=ours.grounding.sam2.state_dict())
    _, mask = synthetic_video(1, ours.grounding.image_size, 0)
    first = min(folders)
    lockstep_run(ours, sam2, folders[first], mask, first)  # warm-up (first-call allocations)
    times = {}
    for num, folder in folders.items():
        runs = {who: [] for who in ('ours', 'sam2')}
        for rep in range(repeats):
            out = lockstep_run(ours, sam2, folder, mask, num)
            for who, f in out.items():
                runs[who].append(dict(
                    total=(f['load_s'] + f['model_s']) / num,
                    total_cpu=(f['load_cpu_s'] + f['model_cpu_s']) / num,
                    load_cpu=f['load_cpu_s'] / num, model_cpu=f['model_cpu_s'] / num,
                    tracked=statistics.mean(f['tracked_s'])))
            print(f'  {num} frames: run {rep + 1}/{repeats} done', flush=True)
        for who, values in runs.items():
            times[who, num] = {key: statistics.median(v[key] for v in values)
                               for key in values[0]}
    return times


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--check', action='store_true',
                        help='compare the masks frame by frame instead of timing')
    parser.add_argument('--frames', type=int, default=6, help='--check: video length')
    parser.add_argument('--lengths', type=int, nargs='+', default=[32, 128, 512],
                        help='timing: video lengths (frames), each side in a fresh process')
    parser.add_argument('--size', choices=['tiny', 'large'], default='tiny',
                        help="SAM-2: the tiny configs' or sam2_hiera_l.yaml proportions")
    parser.add_argument('--image-size', type=int, default=None,
                        help='SAM-2 input side (tiny: 128, large: 1024 unless set)')
    parser.add_argument('--postprocessing', choices=sorted(POSTPROCESSING), default='sa2va',
                        help="--check: the predictor's extra settings (sa2va: Sa2VA's; "
                             "stock: sam2's build_sam2_video_predictor)")
    parser.add_argument('--object-bias', type=float, default=0.0,
                        help="--check: shift of the decoder's object-score bias "
                             '(> 0: present everywhere, < 0: "no object")')
    parser.add_argument('--object-score-source', default='none',
                        choices=['none', 'decoder', 'mask'],
                        help="--check: our tracker's setting (none: Sa2VA mode)")
    parser.add_argument('--seed', type=int, default=0,
                        help='--check: seed of the random weights (the video is fixed)')
    parser.add_argument('--memory-dtype', default='bfloat16',
                        help="our tracker's memory_dtype ('none': the encoder's float32)")
    parser.add_argument('--repeats', type=int, default=3,
                        help='timing: interleaved runs of each side per length')
    parser.add_argument('--child', choices=['ours', 'sam2'], help=argparse.SUPPRESS)
    parser.add_argument('--child-frames', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--video-dir', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_dtype.lower() == 'none':
        args.memory_dtype = None
    return args


def print_check(args) -> None:
    rows = run_check(args.frames, args.size, args.image_size, args.postprocessing,
                     args.object_bias, args.object_score_source, args.memory_dtype,
                     seed=args.seed)
    print(f'size={args.size} image_size={args.image_size or "config"} '
          f'postprocessing={args.postprocessing} object_bias={args.object_bias} '
          f'object_score_source={args.object_score_source} memory_dtype={args.memory_dtype} '
          f'seed={args.seed}')
    print(f"{'frame':>5} {'max |dlogit|':>13} {'IoU':>7} {'ours px':>8} {'sam2 px':>8} "
          f"{'sam2 -1024':>10}")
    for r in rows:
        print(f"{r['frame']:>5} {r['max_abs_diff']:>13.3e} {r['iou']:>7.4f} "
              f"{r['ours_fg']:>8} {r['sam2_fg']:>8} {str(r['sam2_no_object']):>10}")
    worst = max(r['max_abs_diff'] for r in rows)
    print(f'largest logit difference {worst:.3e}; lowest IoU {min(r["iou"] for r in rows):.4f}')


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        print('RESULT ' + json.dumps(run_child(args)), flush=True)
        return
    if args.check:
        print_check(args)
        return
    side = sam2_config(args.size, args.image_size)[1].get('image_size', 1024)
    memory, folders = {}, {}
    with tempfile.TemporaryDirectory() as video_dir:
        for num in args.lengths:
            frames, _ = synthetic_video(num, side, 0)
            folders[num] = write_jpeg_folder(frames, osp.join(video_dir, f'{side}_{num}'))
            del frames
            for who in ('sam2', 'ours'):
                print(f'peak RSS: {who} on {num} frames ({args.size}, {side} px), fresh '
                      'process ...', flush=True)
                cmd = [sys.executable, osp.abspath(__file__), '--child', who,
                       '--child-frames', str(num), '--video-dir', video_dir,
                       '--size', args.size, '--memory-dtype', str(args.memory_dtype)]
                if args.image_size:
                    cmd += ['--image-size', str(args.image_size)]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
                if proc.returncode != 0 or not lines:
                    sys.exit(f'{who} on {num} frames failed:\n{proc.stdout[-2000:]}\n'
                             f'{proc.stderr[-4000:]}')
                memory[who, num] = json.loads(lines[-1][len('RESULT '):])
        print(f'time: both sides in one process, frame by frame in turn, {args.repeats} '
              'runs per length ...', flush=True)
        times = interleaved_times(args.size, args.image_size, folders, args.repeats,
                                  args.memory_dtype)
    print(f"\nsize={args.size} image_size={side} threads="
          f"{os.environ.get('OMP_NUM_THREADS', '?')} memory_dtype={args.memory_dtype} "
          '(predictor: offload_video_to_cpu=False, offload_state_to_cpu=False, its defaults)')
    print('ms per frame: end to end = load (JPEG decode, resize, normalise) + model (every '
          'other step), in wall time and in thread CPU time; load and model: CPU time')
    print(f"{'frames':>6} | {'end to end wall':>15} {'':>6} {'ratio':>6} | "
          f"{'end to end CPU':>14} {'':>6} {'ratio':>6} | {'load CPU':>8} {'':>5} | "
          f"{'model CPU':>9} {'':>6} {'ratio':>6} | {'RSS MB':>6} {'':>6} {'ratio':>6} | "
          f"{'kept':>4} {'':>4}")
    print(f"{'':>6} | {'sam2':>15} {'ours':>6} {'':>6} | {'sam2':>14} {'ours':>6} {'':>6} | "
          f"{'sam2':>8} {'ours':>5} | {'sam2':>9} {'ours':>6} {'':>6} | {'sam2':>6} "
          f"{'ours':>6} {'':>6} | {'sam2':>4} {'ours':>4}")
    for num in args.lengths:
        s, o = times['sam2', num], times['ours', num]
        ms, mo = memory['sam2', num], memory['ours', num]
        print(f"{num:>6} | {s['total'] * 1e3:>15.2f} {o['total'] * 1e3:>6.2f} "
              f"{o['total'] / s['total']:>6.3f} | {s['total_cpu'] * 1e3:>14.2f} "
              f"{o['total_cpu'] * 1e3:>6.2f} {o['total_cpu'] / s['total_cpu']:>6.3f} | "
              f"{s['load_cpu'] * 1e3:>8.2f} {o['load_cpu'] * 1e3:>5.2f} | "
              f"{s['model_cpu'] * 1e3:>9.2f} {o['model_cpu'] * 1e3:>6.2f} "
              f"{o['model_cpu'] / s['model_cpu']:>6.3f} | {ms['peak_rss_mb']:>6.1f} "
              f"{mo['peak_rss_mb']:>6.1f} {mo['peak_rss_mb'] / ms['peak_rss_mb']:>6.3f} | "
              f"{ms['frames_kept']:>4} {mo['frames_kept']:>4}")
    first, last = args.lengths[0], args.lengths[-1]
    worst_time = max(times['ours', n]['total'] / times['sam2', n]['total']
                     for n in args.lengths)
    worst_cpu = max(times['ours', n]['total_cpu'] / times['sam2', n]['total_cpu']
                    for n in args.lengths)
    ours_growth = memory['ours', last]['peak_rss_mb'] / memory['ours', first]['peak_rss_mb']
    sam2_growth = memory['sam2', last]['peak_rss_mb'] / memory['sam2', first]['peak_rss_mb']
    print(f'goal: our time per frame end to end <= 1.0x the predictor\'s: worst '
          f'{worst_time:.3f}x wall ({"met" if worst_time <= 1.0 else "not met"}), '
          f'{worst_cpu:.3f}x CPU ({"met" if worst_cpu <= 1.0 else "not met"})')
    print(f'goal: our peak RSS flat ({last} vs {first} frames <= 1.1x): ours '
          f'{ours_growth:.3f}x, predictor {sam2_growth:.3f}x '
          f'({"met" if ours_growth <= 1.1 else "not met"})')
    print('command: python tools/analysis_tools/benchmark_tracker_vs_sam2.py '
          + ' '.join(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    main()
