"""Run Sa2VA's own Hugging Face modeling code next to our Sa2VA baseline, stage by stage.

    SA2VA_ROOT=path/to/Sa2VA python tools/analysis_tools/sa2va_parity_check.py
    python tools/analysis_tools/sa2va_parity_check.py --sa2va-root path/to/Sa2VA \
        [--config configs/sa2va/sa2va_tiny.py] [--frames 12] [--seed 0] \
        [--tracked-prompt {config,on,off}] [--object-score-bias 0]

A tiny random Sa2VA baseline (the config's InternVL with its tiny Qwen2 LM and tiny SAM-2)
is exported with :func:`desa2va_mm.utils.sa2va_release.export_sa2va_release` and loaded by
Sa2VA's ``Sa2VAChatModel.from_pretrained`` (``projects/llava_sam2/hf/models`` of a Sa2VA
checkout, never copied into this repository). Both models then see the same image, prompt
and 12-frame video; the table gives, per stage, the largest absolute difference and
whether it is within tolerance:

* vision features: InternViT + pixel shuffle + projector (``extract_feature``);
* ``[SEG]`` hidden state: the LLM's last layer at the ``[SEG]`` token;
* projection: ``text_hidden_fcs``;
* SAM-2 input: each side's resize + normalisation of the original image (our image
  pipelines' ``DirectResize`` and our streamed video frames' ``prepare_frame``);
* SAM-2 image embeddings: the image encoder on the same input;
* mask logits (SAM-2 resolution): SAM-2's decoder prompted with the same token;
* masks (original size): each side's upsampling to the image size and threshold;
* video masks: 12 frames, key frames prompted, the rest tracked through SAM-2's memory.

``--sa2va-root`` (or ``SA2VA_ROOT``) is a Sa2VA checkout, an extracted copy of its
``projects/llava_sam2/hf``, or a bare git clone (its files are extracted to a temporary
folder). Without it the check prints why and exits 0 (``--require`` makes that exit 2).

Sa2VA's code is written for a CUDA machine, transformers 4.x, timm and torchvision; to run
it here on CPU with transformers 5 it is imported behind small shims, all in this file
(:func:`import_sa2va_modeling`): a ``timm`` ``DropPath`` and ``torchvision`` resize /
tensor transforms (PIL-backed, as torchvision's are for PIL images), stand-ins for the
Phi-3 / InternLM2 modules the Qwen2 model never uses, ``Tensor.cuda`` as a no-op and the
``cuda`` device of its video predictor mapped to the CPU. ``SAM2()`` hard-codes SAM-2
hiera-L at 1024 px; the check builds the config's tiny SAM-2 from Sa2VA's own classes
(its ``sam2.py``) with Sa2VA's hard-coded predictor settings, changing only sizes.
transformers 5 loads on the meta device and leaves plain tensor attributes there (SAM-2's
rotary tables): they are recomputed as the layers' constructors do, and
``all_tied_weights_keys`` (filled by ``post_init``, which Sa2VA's constructor never calls)
is set empty (nothing is tied).
"""
import argparse
import atexit
import contextlib
import importlib
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import types
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

#: Where Sa2VA keeps its HF release code inside its repository.
SA2VA_HF_MODELS = 'projects/llava_sam2/hf/models'
_PKG = '_sa2va_hf_models'


# --------------------------------------------------------------------------- locating
def resolve_sa2va_models_dir(root: Optional[str]) -> Optional[str]:
    """The folder holding ``modeling_sa2va_chat.py`` for ``root``, or None when absent.

    Args:
        root: A Sa2VA checkout, the ``models`` folder itself, or a bare git repository
            (``HEAD:projects/llava_sam2/hf`` is extracted to a temporary folder, removed
            when the process exits).
    """
    if not root or not osp.isdir(root):
        return None
    for candidate in (osp.join(root, SA2VA_HF_MODELS), root):
        if osp.isfile(osp.join(candidate, 'modeling_sa2va_chat.py')):
            return candidate
    if osp.isfile(osp.join(root, 'HEAD')) and osp.isdir(osp.join(root, 'objects')):
        out = tempfile.mkdtemp(prefix='sa2va_src_')
        atexit.register(shutil.rmtree, out, ignore_errors=True)
        archive = subprocess.run(
            ['git', f'--git-dir={root}', 'archive', 'HEAD', osp.dirname(SA2VA_HF_MODELS)],
            capture_output=True, check=False)
        if archive.returncode != 0:
            return None
        subprocess.run(['tar', '-x', '-C', out], input=archive.stdout, check=True)
        models = osp.join(out, SA2VA_HF_MODELS)
        return models if osp.isfile(osp.join(models, 'modeling_sa2va_chat.py')) else None
    return None


# --------------------------------------------------------------------------- shims
def _timm_shim() -> Dict[str, types.ModuleType]:
    import torch.nn as nn

    class DropPath(nn.Module):
        """timm's stochastic depth; identity at inference (drop_path_rate is 0 anyway)."""

        def __init__(self, drop_prob: float = 0.0) -> None:
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            return x

    timm = types.ModuleType('timm')
    models = types.ModuleType('timm.models')
    layers = types.ModuleType('timm.models.layers')
    layers.DropPath = DropPath
    timm.models, models.layers = models, layers
    return {'timm': timm, 'timm.models': models, 'timm.models.layers': layers}


def _torchvision_shim() -> Dict[str, types.ModuleType]:
    """The few torchvision transforms Sa2VA's predict path uses, on PIL images."""
    import numpy as np
    import torch
    from PIL import Image

    class InterpolationMode:
        BICUBIC = Image.BICUBIC
        BILINEAR = Image.BILINEAR

    class Compose:
        def __init__(self, transforms):
            self.transforms = transforms

        def __call__(self, x):
            for t in self.transforms:
                x = t(x)
            return x

    class Lambda:
        def __init__(self, fn):
            self.fn = fn

        def __call__(self, x):
            return self.fn(x)

    class Resize:
        def __init__(self, size, interpolation=InterpolationMode.BILINEAR):
            self.size, self.interpolation = size, interpolation

        def __call__(self, img):
            h, w = self.size
            return img.resize((w, h), self.interpolation)

    class ToTensor:
        def __call__(self, img):
            return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)

    class Normalize:
        def __init__(self, mean, std):
            self.mean = torch.tensor(mean)[:, None, None]
            self.std = torch.tensor(std)[:, None, None]

        def __call__(self, x):
            return (x - self.mean) / self.std

    def to_pil_image(array, mode=None):
        return Image.fromarray(np.asarray(array), mode=mode)

    tv = types.ModuleType('torchvision')
    transforms = types.ModuleType('torchvision.transforms')
    functional = types.ModuleType('torchvision.transforms.functional')
    for obj in (Compose, Lambda, Resize, ToTensor, Normalize):
        setattr(transforms, obj.__name__, obj)
    functional.InterpolationMode = InterpolationMode
    functional.to_pil_image = to_pil_image
    functional.resize = None  # imported by name, never called on the paths the check runs
    tv.transforms, transforms.functional = transforms, functional
    return {'torchvision': tv, 'torchvision.transforms': transforms,
            'torchvision.transforms.functional': functional}


def _unused_llm_shims() -> Dict[str, types.ModuleType]:
    """Phi-3 / InternLM2 modules import transformers 4 internals; a Qwen2 model never
    reaches them."""
    out = {}
    for name, cls in (('modeling_phi3', 'Phi3ForCausalLM'),
                      ('modeling_internlm2', 'InternLM2ForCausalLM')):
        module = types.ModuleType(f'{_PKG}.{name}')

        def unavailable(*args, _cls=cls, **kwargs):
            raise NotImplementedError(f'{_cls} is not importable under this transformers; the '
                                      'parity check runs Qwen2 language models')

        setattr(module, cls, unavailable)
        out[f'{_PKG}.{name}'] = module
    return out


def import_sa2va_modeling(models_dir: str) -> types.ModuleType:
    """Import Sa2VA's ``modeling_sa2va_chat`` from ``models_dir`` behind the shims.

    The folder is imported as the package ``_sa2va_hf_models`` (its relative imports stay
    inside it); ``timm`` / ``torchvision`` shims are visible only while it imports, so
    transformers' own availability checks still see the real environment.

    Returns:
        The ``modeling_sa2va_chat`` module (``Sa2VAChatModel``; ``.sam2`` is reachable as
        ``sys.modules['_sa2va_hf_models.sam2']``).
    """
    name = f'{_PKG}.modeling_sa2va_chat'
    if name in sys.modules:
        return sys.modules[name]
    # transformers decides what is installed at import: import it before the shims.
    import transformers  # noqa: F401
    import transformers.activations  # noqa: F401
    import transformers.modeling_outputs  # noqa: F401
    import transformers.modeling_utils  # noqa: F401

    spec = importlib.util.spec_from_loader(_PKG, loader=None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [models_dir]
    sys.modules[_PKG] = package
    shims = {**_timm_shim(), **_torchvision_shim(), **_unused_llm_shims()}
    saved = {k: sys.modules.get(k) for k in shims}
    sys.modules.update(shims)
    try:
        with contextlib.redirect_stdout(open(os.devnull, 'w')):  # "FlashAttention is not ..."
            module = importlib.import_module(name)
    finally:
        for key, value in saved.items():
            if key.startswith(_PKG):
                continue
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    return module


def _sam2_model_config(grounding_cfg: dict) -> dict:
    """Our grounding encoder's composed SAM-2 Hydra config (``cfg.model``) as a dict."""
    import sam2  # noqa: F401  (initialises Hydra's config module)
    from hydra import compose
    from omegaconf import OmegaConf

    from desa2va_mm.models.grounding.sam2_grounding import flatten_overrides
    cfg = compose(config_name=grounding_cfg['config'],
                  overrides=flatten_overrides(grounding_cfg.get('overrides') or {}))
    return OmegaConf.to_container(cfg.model, resolve=True)


@contextlib.contextmanager
def sa2va_sam2_sized_like(grounding_cfg: dict):
    """Inside, Sa2VA's ``SAM2()`` builds the config's SAM-2 sizes from Sa2VA's own classes.

    ``SAM2()`` hard-codes hiera-L at 1024 px. Here its image encoder, memory attention and
    memory encoder are built from the Hydra config of ``grounding_cfg`` (each ``_target_``
    class taken from Sa2VA's ``sam2.py`` by name), and its predictor gets the config's
    ``image_size`` and ``num_maskmem``; every other predictor setting stays Sa2VA's.

    Yields:
        A list filled, once a model is built, with ``(setting, sa2va_value, our_value)``
        for each predictor setting where Sa2VA's hard-coded value and the config differ.
    """
    sam2_module = sys.modules[f'{_PKG}.sam2']
    model_cfg = _sam2_model_config(grounding_cfg)

    def build(node):
        if isinstance(node, dict):
            kwargs = {k: build(v) for k, v in node.items() if k != '_target_'}
            if '_target_' not in node:
                return kwargs
            return getattr(sam2_module, node['_target_'].rsplit('.', 1)[1])(**kwargs)
        if isinstance(node, list):
            return [build(v) for v in node]
        return node

    differences: List[tuple] = []
    real_predictor = sam2_module.SAM2VideoPredictor
    sizes = ('image_size', 'num_maskmem')

    def predictor(**kwargs):
        for key, value in kwargs.items():
            if key in ('image_encoder', 'memory_attention', 'memory_encoder') or key in sizes:
                continue
            ours = model_cfg.get(key, '<sam2 default>')
            if ours != value:
                differences.append((key, value, ours))
        kwargs.update({k: model_cfg[k] for k in sizes})
        return real_predictor(**kwargs)

    cls = sam2_module.SAM2
    saved = (cls.build_image_encoder, cls.build_memory_attention, cls.build_memory_encoder)
    cls.build_image_encoder = lambda self: build(model_cfg['image_encoder'])
    cls.build_memory_attention = lambda self: build(model_cfg['memory_attention'])
    cls.build_memory_encoder = lambda self: build(model_cfg['memory_encoder'])
    sam2_module.SAM2VideoPredictor = predictor
    try:
        yield differences
    finally:
        cls.build_image_encoder, cls.build_memory_attention, cls.build_memory_encoder = saved
        sam2_module.SAM2VideoPredictor = real_predictor


def load_sa2va_model(modeling: types.ModuleType, folder: str, grounding_cfg: dict):
    """``Sa2VAChatModel.from_pretrained(folder)`` (float32, eval) with the config's SAM-2.

    Returns:
        ``(model, loading_info, sam2_setting_differences)``; ``loading_info`` is
        transformers' ``missing_keys`` / ``unexpected_keys`` / ``mismatched_keys``.
    """
    import torch
    cls = modeling.Sa2VAChatModel
    if not hasattr(cls, 'all_tied_weights_keys'):
        # transformers 5 fills this in post_init(), which Sa2VA's __init__ (written for 4.x)
        # never calls; nothing is tied (tie_word_embeddings=False).
        cls.all_tied_weights_keys = {}
    with sa2va_sam2_sized_like(grounding_cfg) as differences:
        model, info = modeling.Sa2VAChatModel.from_pretrained(
            folder, dtype=torch.float32, output_loading_info=True, use_flash_attn=False)
    _materialise_plain_tensors(model)
    return model.eval(), info, differences


def _materialise_plain_tensors(model) -> None:
    """transformers 5 builds the model on the meta device and loads parameters and buffers
    only; SAM-2's RoPE attention keeps its rotary table ``freqs_cis`` as a plain attribute,
    left on meta. It is a function of the layer's settings: recomputed as its __init__
    does (transformers 4 built on the CPU, so this is what Sa2VA's releases run)."""
    left = []
    for name, module in model.named_modules():
        for attr, value in list(vars(module).items()):
            if not (hasattr(value, 'is_meta') and value.is_meta):
                continue
            if attr == 'freqs_cis' and hasattr(module, 'compute_cis'):
                side = int(round(value.shape[0]**0.5))
                setattr(module, attr, module.compute_cis(end_x=side, end_y=side))
            else:
                left.append(f'{name}.{attr}')
    if left:
        raise RuntimeError(f'tensors left on the meta device after loading: {left}')


@contextlib.contextmanager
def sa2va_on_cpu(modeling: types.ModuleType):
    """Sa2VA's predictor moves tensors with ``.cuda()`` and keeps ``torch.device('cuda')``
    in its inference state; inside, the first is a no-op and the second the CPU."""
    import torch
    sam2_module = sys.modules[f'{_PKG}.sam2']
    predictor = sam2_module.SAM2VideoPredictor
    real_init_state = predictor.init_state
    real_cuda = torch.Tensor.cuda

    def init_state(self, images):
        state = real_init_state(self, images)
        state['device'] = state['storage_device'] = images.device
        return state

    predictor.init_state = init_state
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        predictor.init_state = real_init_state
        torch.Tensor.cuda = real_cuda


# --------------------------------------------------------------------------- the check
#: Stage -> absolute tolerance on the largest difference (float32 on both sides).
TOLERANCE = 1e-4


class Stage:
    """One row of the table: the largest |ours - Sa2VA| of a stage, and a note."""

    def __init__(self, name: str, diff: float, note: str = '',
                 tolerance: float = TOLERANCE) -> None:
        self.name, self.diff, self.note, self.tolerance = name, float(diff), note, tolerance

    @property
    def ok(self) -> bool:
        return self.diff <= self.tolerance

    def row(self) -> str:
        return f'| {self.name} | {self.diff:.3g} | {"yes" if self.ok else "no"} | {self.note} |'


def _max_diff(a, b) -> float:
    a, b = a.detach().float(), b.detach().float()
    if a.shape != b.shape:
        raise ValueError(f'shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
    return float((a - b).abs().max()) if a.numel() else 0.0


def _disagreement(a, b) -> float:
    """Fraction of pixels where two boolean masks differ."""
    return float((a != b).float().mean())


def synthetic_video(num_frames: int, height: int, width: int, seed: int):
    """``num_frames`` smooth RGB uint8 frames (H, W, 3): blobs drifting across a gradient."""
    import numpy as np
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, 0.5 + 0 * xx], -1) * 120
    centres = rng.uniform(0.2, 0.8, size=(4, 2)) * (height, width)
    colours = rng.uniform(60, 255, size=(4, 3))
    frames = []
    for t in range(num_frames):
        frame = base.copy()
        for (cy, cx), colour in zip(centres, colours):
            cy, cx = cy + 2.0 * t, cx + 3.0 * t
            blob = np.exp(-(((yy - cy) / 0.12 / height)**2 + ((xx - cx) / 0.12 / width)**2))
            frame = frame * (1 - blob[..., None]) + colour * blob[..., None]
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def build_tiny_baseline(config: str, seed: int, cfg_options: Optional[dict] = None,
                        object_score_bias: float = 0.0):
    """Our Sa2VA baseline from ``config`` with random, non-degenerate weights.

    SAM-2's multimask output is on, as in Sa2VA (``sam_mask_decoder`` with
    ``multimask_output_in_sam``) and the real-size Sa2VA configs. A fresh SAM-2 has many
    zero-initialised weights; every parameter gets small noise so each stage is exercised.
    ``object_score_bias`` is added to the decoders' object-score output: random weights
    put that logit near 0, and where our tracker reads it (``object_score_source``) a
    negative one writes SAM-2's -1024 "object absent" value over the whole frame.
    """
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.seg_head.mask_head.multimask_output = True
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.model.seg_head.type != 'Sa2VASegHead':
        raise ValueError(f'{config}: the parity check needs a Sa2VA-baseline config '
                         f'(seg_head Sa2VASegHead), got {cfg.model.seg_head.type}')
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            param.add_(torch.randn(param.shape, generator=generator) * 0.02)
        for decoder in (model.seg_head.mask_head.decoder,
                        model.grounding_encoder.sam2.sam_mask_decoder):
            decoder.pred_obj_score_head.layers[-1].bias.add_(object_score_bias)
    return model.eval(), cfg


def _prompt_ids(model, num_image_tokens: int, template: dict, text: str, answer: str):
    import torch

    from desa2va_mm.tokenization import IMG_CONTEXT_TOKEN
    tokenizer = model.mllm.tokenizer
    image = '<img>' + IMG_CONTEXT_TOKEN * num_image_tokens + '</img>'
    prompt = template['INSTRUCTION'].format(input=f'{image}\n{text}', round=1,
                                            bot_name='BOT') + answer
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors='pt').input_ids
    return ids, torch.ones_like(ids)


def run_parity(modeling: types.ModuleType, config: str, *, frames: int = 12, seed: int = 0,
               work_dir: Optional[str] = None, key_frames: int = 5,
               height: int = 150, width: int = 200,
               object_score_bias: float = 0.0,
               track_with_seg_prompt: Optional[bool] = None) -> dict:
    """Build, export, load with Sa2VA's code, and compare stage by stage.

    Args:
        modeling: :func:`import_sa2va_modeling`'s module.
        config: A Sa2VA-baseline config (its tiny InternVL / SAM-2 sizes are used).
        frames: Video length (Sa2VA's video path prompts the first ``key_frames``).
        seed: Weights and images.
        work_dir: Where the export goes (a temporary folder when None).
        key_frames: Frames the MLLM sees (Sa2VA's ``predict_forward``: 5).
        height, width: Original image / frame size (not square: resizing matters).
        object_score_bias: See :func:`build_tiny_baseline` (0 lets SAM-2 declare the
            object absent on some frames).
        track_with_seg_prompt: Override our tracker's setting (None keeps the model's):
            True adds the ``[SEG]`` token to the prompt of tracked frames, False decodes
            them from SAM-2's padding prompt only, as Sa2VA's video path does.

    Returns:
        ``dict(stages=[Stage...], settings=[(setting, sa2va, ours)], export=folder)``.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from desa2va_mm.tokenization import SEG_TOKEN
    from desa2va_mm.utils.sa2va_release import export_sa2va_release

    # Streamed frames resized as the real-size models resize them (PIL bicubic; the tiny
    # configs keep OpenCV bilinear for their published figures).
    model, cfg = build_tiny_baseline(
        config, seed, cfg_options={'model.data_preprocessor.frame_resize': 'pillow'},
        object_score_bias=object_score_bias)
    if track_with_seg_prompt is not None:
        model.video_tracker.track_with_seg_prompt = track_with_seg_prompt
    tracked_prompt = model.video_tracker.track_with_seg_prompt
    folder = osp.join(work_dir or tempfile.mkdtemp(prefix='sa2va_parity_'), 'release')
    export_sa2va_release(model, folder)
    sa2va, info, settings = load_sa2va_model(modeling, folder,
                                             cfg.model.grounding_encoder.to_dict())
    if any(info[k] for k in ('missing_keys', 'unexpected_keys', 'mismatched_keys')):
        raise RuntimeError(f"Sa2VA's code did not load the export cleanly: {info}")
    sam2_module = sys.modules[f'{_PKG}.sam2']
    templates = sys.modules[f'{_PKG}.templates'].PROMPT_TEMPLATE
    tokenizer = model.mllm.tokenizer
    sa2va.img_context_token_id = model.mllm.image_token_id
    video = synthetic_video(frames, height, width, seed)
    image = video[0]
    stages: List[Stage] = []

    with torch.no_grad(), sa2va_on_cpu(modeling):
        # ---- InternVL: the same tiles (Sa2VA's dynamic tiling + bicubic resize)
        from PIL import Image
        size = sa2va.config.force_image_size or sa2va.config.vision_config.image_size
        tiles_pil = modeling.dynamic_preprocess(Image.fromarray(image), 1, 12, size, True)
        transform = modeling.T.Compose([
            modeling.T.Resize((size, size), interpolation=modeling.InterpolationMode.BICUBIC),
            modeling.T.ToTensor(),
            modeling.T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
        tiles = torch.stack([transform(t) for t in tiles_pil])
        ours_vision = model.mllm.encode_images(tiles)
        theirs_vision = sa2va.extract_feature(tiles)
        stages.append(Stage('vision features (InternViT + pixel shuffle + mlp1)',
                            _max_diff(ours_vision, theirs_vision),
                            f'{len(tiles)} tiles of {size} px'))

        # ---- LLM: teacher-forced prompt + answer, state at [SEG]
        template = templates[sa2va.config.template.replace('-', '_')]
        ids, mask = _prompt_ids(model, ours_vision.shape[0] * ours_vision.shape[1], template,
                                'please segment the red circle', f'it is {SEG_TOKEN}')
        seg_pos = int((ids[0] == model.mllm.seg_token_id).nonzero()[-1])
        ours_hidden = model.mllm(ids, mask, ours_vision.flatten(0, 1))['hidden_states']
        out = sa2va.generate(pixel_values=tiles, input_ids=ids, attention_mask=mask,
                             max_new_tokens=1, do_sample=False, output_hidden_states=True,
                             return_dict_in_generate=True,
                             pad_token_id=tokenizer.pad_token_id)
        theirs_hidden = out.hidden_states[0][-1]
        stages.append(Stage('[SEG] hidden state (LLM last layer)',
                            _max_diff(ours_hidden[0, seg_pos], theirs_hidden[0, seg_pos]),
                            f'{ids.shape[1]} tokens, teacher-forced'))
        seg_hidden = ours_hidden[:, seg_pos]
        ours_prompt = model.seg_head.text_hidden_fcs(seg_hidden)
        theirs_prompt = sa2va.text_hidden_fcs(seg_hidden)
        stages.append(Stage('projection (text_hidden_fcs)', _max_diff(ours_prompt,
                                                                    theirs_prompt)))

        # ---- SAM-2 input: each side's resize + normalisation of the original image
        sam_size = sa2va.grounding_encoder.sam2_model.image_size
        resize = modeling.DirectResize(target_length=sam_size)
        sa2va_uint8 = [resize.apply_image(f) for f in video]
        theirs_input = torch.stack([
            sa2va.grounding_encoder.preprocess_image(
                torch.from_numpy(f).permute(2, 0, 1).float(), dtype=torch.float32)
            for f in sa2va_uint8])
        from desa2va_mm.datasets.transforms import DirectResize
        preprocessor = model.data_preprocessor
        bgr = np.ascontiguousarray(image[..., ::-1])
        resized = DirectResize(scale=sam_size).transform({'img': bgr})['img']
        ours_input = preprocessor.normalize(
            torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)[None])
        stages.append(Stage('SAM-2 input, image pipelines (resize + normalise)',
                            _max_diff(ours_input[0], theirs_input[0]),
                            f'{height}x{width} -> {sam_size}: our DirectResize transform '
                            "(real-size pipelines), Sa2VA's DirectResize"))
        ours_frame = preprocessor.prepare_frame(bgr)
        stages.append(Stage('SAM-2 input, streamed video frames (resize + normalise)',
                            _max_diff(ours_frame[0], theirs_input[0]),
                            f'{height}x{width} -> {sam_size}: ours data_preprocessor.'
                            "prepare_frame (frame_resize='pillow', real-size models), "
                            "Sa2VA's DirectResize"))

        # ---- SAM-2 image encoder on the same input
        feats = model.grounding_encoder.encode_image(theirs_input[:1])
        backbone = sa2va.grounding_encoder.sam2_model.forward_image(theirs_input[:1])
        _, vision_feats, _, sizes = sa2va.grounding_encoder.sam2_model. \
            _prepare_backbone_features(backbone)
        theirs_embed = (vision_feats[-1] + sa2va.grounding_encoder.sam2_model.no_mem_embed) \
            .permute(1, 2, 0).reshape(1, -1, *sizes[-1])
        # Sa2VA's forward_image applies the decoder's conv_s0 / conv_s1 to the high-res
        # maps up front; our heads apply their own (the same weights after the export).
        decoder = model.seg_head.mask_head.decoder
        ours_high = [decoder.conv_s0(feats['high_res_feats'][0]),
                     decoder.conv_s1(feats['high_res_feats'][1])]
        diff = max([_max_diff(feats['image_embed'], theirs_embed)] + [
            _max_diff(a, b) for a, b in zip(ours_high, backbone['backbone_fpn'][:-1])])
        stages.append(Stage('SAM-2 image embeddings (same input)', diff,
                            'lowest level + no_mem_embed, and the two high-res maps'))

        # ---- image mask logits, SAM-2 resolution, same input and prompt token
        ours_low = model.seg_head.decode(model.grounding_encoder, feats, seg_hidden,
                                         torch.zeros(1, dtype=torch.long)).final_logits
        sam = sa2va.grounding_encoder
        state = sam.get_sam2_embeddings(theirs_input[:1])
        theirs_video_res = sam.language_embd_inference(state, [theirs_prompt])
        theirs_low = state['output_dict']['cond_frame_outputs'][0]['pred_masks']
        stages.append(Stage('image mask logits at SAM-2 resolution (same input)',
                            _max_diff(ours_low, theirs_low),
                            f'{tuple(ours_low.shape[-2:])}, best of 3 by predicted IoU'))

        # ---- image masks at the original size: each side's upsampling and threshold
        # (ours: the model's own path, model.mask_resize; Sa2VA: via SAM-2's input size).
        ours_masks = model._masks_at(ours_low, (height, width))
        theirs_masks = F.interpolate(theirs_video_res, size=(height, width), mode='bilinear',
                                     align_corners=False)[:, 0] > 0
        stages.append(Stage(
            'image masks at original size', _disagreement(ours_masks, theirs_masks),
            f'fraction of pixels that differ; ours model.mask_resize='
            f'{getattr(model, "mask_resize", "direct")!r}, Sa2VA {tuple(ours_low.shape[-2:])}'
            f' -> {sam_size}x{sam_size} -> {height}x{width}'))

        # ---- video: the same frames at SAM-2 size, key frames prompted, the rest tracked
        keys = list(range(min(key_frames, frames)))
        ours_frames = [np.ascontiguousarray(f[..., ::-1]) for f in sa2va_uint8]  # BGR
        ours_video = list(model.segment_video(ours_frames, seg_hidden, keys,
                                              num_frames=frames, ori_shape=(height, width)))
        state = sam.get_sam2_embeddings(theirs_input)
        with contextlib.redirect_stderr(open(os.devnull, 'w')):  # tqdm
            theirs_video_res = sam.language_embd_inference(state, [theirs_prompt] * len(keys))
        outputs = state['output_dict']
        theirs_low = [(outputs['cond_frame_outputs'].get(t) or
                       outputs['non_cond_frame_outputs'][t])['pred_masks'] for t in range(frames)]
        ours_low = [f['logits'] for f in ours_video]
        tracked = [t for t in range(frames) if t not in keys]

        def absent(ts):
            # Our tracker writes SAM-2's -1024 where the object score says "absent".
            return sum(int((ours_low[t] <= -1024).all()) for t in ts)

        stages.append(Stage(
            f'video mask logits, key frames {keys[0]}-{keys[-1]} (prompted)',
            max(_max_diff(ours_low[t], theirs_low[t]) for t in keys),
            f'same frames at SAM-2 size; ours at -1024 (object absent) on {absent(keys)} '
            f'of {len(keys)}'))
        if tracked:
            prompt = ('ours prompts tracked frames with [SEG] too '
                      '(video_tracker.track_with_seg_prompt=True), Sa2VA key frames only; '
                      'known difference' if tracked_prompt else
                      'both decode tracked frames from padding prompts only '
                      '(video_tracker.track_with_seg_prompt=False)')
            stages.append(Stage(
                f'video mask logits, tracked frames {tracked[0]}-{tracked[-1]}',
                max(_max_diff(ours_low[t], theirs_low[t]) for t in tracked),
                f'{prompt}; ours at -1024 (object absent) on {absent(tracked)} of '
                f'{len(tracked)}'))
        theirs_masks = F.interpolate(theirs_video_res, size=(height, width), mode='bilinear',
                                     align_corners=False)[:, 0] > 0
        ours_masks = torch.stack([f['masks'][0] for f in ours_video])
        stages.append(Stage(f'video masks over {frames} frames (original size)',
                            _disagreement(ours_masks, theirs_masks),
                            'fraction of pixels that differ (each side\'s full path)'))
    return dict(stages=stages, settings=settings, export=folder)


def format_report(result: dict, command: str) -> str:
    """The table as Markdown, with the SAM-2 settings where Sa2VA's hard-coded values
    differ from the config, and the command."""
    lines = ['| stage | max abs diff | within tolerance | note |', '|---|---|---|---|']
    lines += [stage.row() for stage in result['stages']]
    if result['settings']:
        lines.append('')
        lines.append("SAM-2 settings Sa2VA's SAM2() hard-codes and the config does not "
                     'share:')
        lines += [f'- `{name}`: Sa2VA {theirs!r}, config {ours!r}'
                  for name, theirs, ours in result['settings']]
    lines += ['', f'tolerance {TOLERANCE:g} (float32); reproduce: `{command}`']
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Compare our Sa2VA baseline with Sa2VA's own HF modeling code, stage by "
        'stage, on a tiny random model (exported, then loaded by Sa2VA)')
    parser.add_argument('--sa2va-root', default=os.environ.get('SA2VA_ROOT'),
                        help='Sa2VA checkout, its projects/llava_sam2/hf/models folder, or a '
                        'bare clone (default: $SA2VA_ROOT)')
    parser.add_argument('--config', default=osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'),
                        help='Sa2VA-baseline config whose tiny sizes are used')
    parser.add_argument('--frames', type=int, default=12, help='video length (default 12)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--object-score-bias', type=float, default=0.0,
                        help="added to the random decoders' object-score logit (default 0); "
                        'a negative score is SAM-2\'s "object absent", which a tracker that '
                        'reads it answers with -1024 over the frame')
    parser.add_argument('--tracked-prompt', choices=['config', 'on', 'off'], default='config',
                        help="our tracker's video_tracker.track_with_seg_prompt: the config's "
                        "(default), on ([SEG] prompt on tracked frames too) or off (Sa2VA's "
                        'video path: key frames only)')
    parser.add_argument('--work-dir', default=None, help='where the export is written')
    parser.add_argument('--require', action='store_true',
                        help="exit 2 instead of 0 when Sa2VA's code is absent")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    models_dir = resolve_sa2va_models_dir(args.sa2va_root)
    if models_dir is None:
        print("sa2va_parity_check: skipped, Sa2VA's code is absent (give --sa2va-root or "
              f'SA2VA_ROOT: a Sa2VA checkout or clone; got {args.sa2va_root!r})')
        return 2 if args.require else 0
    print(f"[parity] Sa2VA's code: {models_dir}", flush=True)
    modeling = import_sa2va_modeling(models_dir)
    print('[parity] building the tiny baseline, exporting it, loading it with Sa2VA ...',
          flush=True)
    result = run_parity(modeling, args.config, frames=args.frames, seed=args.seed,
                        work_dir=args.work_dir, object_score_bias=args.object_score_bias,
                        track_with_seg_prompt=dict(config=None, on=True,
                                                   off=False)[args.tracked_prompt])
    command = ' '.join(['python', 'tools/analysis_tools/sa2va_parity_check.py',
                        '--sa2va-root', 'SA2VA', '--frames', str(args.frames),
                        '--seed', str(args.seed), '--object-score-bias',
                        f'{args.object_score_bias:g}'] +
                       (['--tracked-prompt', args.tracked_prompt]
                        if args.tracked_prompt != 'config' else []))
    print(format_report(result, command))
    return 0


if __name__ == '__main__':
    sys.exit(main())
