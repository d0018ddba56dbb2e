"""Run Sa2VA's own Hugging Face modeling code next to our Sa2VA baseline, stage by stage.

    SA2VA_ROOT=path/to/Sa2VA python tools/analysis_tools/sa2va_parity_check.py
    python tools/analysis_tools/sa2va_parity_check.py --sa2va-root path/to/Sa2VA \
        [--config configs/sa2va/sa2va_tiny.py] [--frames 12] [--seed 0]

A tiny random Sa2VA baseline (the config's InternVL with its tiny Qwen2 LM and tiny SAM-2)
is exported with :func:`desa2va_mm.utils.sa2va_release.export_sa2va_release` and loaded by
Sa2VA's ``Sa2VAChatModel.from_pretrained`` (``projects/llava_sam2/hf/models`` of a Sa2VA
checkout, never copied into this repository). Both models then see the same image, prompt
and 12-frame video; the table gives, per stage, the largest absolute difference and
whether it is within tolerance:

* vision features: InternViT + pixel shuffle + projector (``extract_feature``);
* ``[SEG]`` hidden state: the LLM's last layer at the ``[SEG]`` token;
* projection: ``text_hidden_fcs``;
* SAM-2 input: each side's resize + normalisation of the original image;
* SAM-2 image embeddings: the image encoder on the same input;
* mask logits (SAM-2 resolution): SAM-2's decoder prompted with the same token;
* mask logits (original size): each side's upsampling to the image size;
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
"""
import argparse
import contextlib
import importlib
import importlib.util
import os
import os.path as osp
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
            (``HEAD:projects/llava_sam2/hf`` is extracted to a temporary folder).
    """
    if not root or not osp.isdir(root):
        return None
    for candidate in (osp.join(root, SA2VA_HF_MODELS), root):
        if osp.isfile(osp.join(candidate, 'modeling_sa2va_chat.py')):
            return candidate
    if osp.isfile(osp.join(root, 'HEAD')) and osp.isdir(osp.join(root, 'objects')):
        out = tempfile.mkdtemp(prefix='sa2va_src_')
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
    return model.eval(), info, differences
