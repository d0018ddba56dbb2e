"""``DeSa2VAInferencer``: segment images and videos from expressions, questions or chat.

Every input goes through the config's own test pipelines and the model's data
preprocessor, as ``tools/test.py`` runs a test set: user inputs (:mod:`.inputs`) ->
test pipeline (without the steps that read a dataset) -> collate -> data preprocessor ->
``DeSa2VA.predict`` (images, chat) or the model's streaming video API fed by the
preprocessor's frame stream (videos). See docs/inference.md.
"""
import copy
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.infer import BaseInferencer
from mmengine.registry import init_default_scope

from desa2va_mm.datasets.transforms.build_referring_conversation import VIDEO_TEST_QUESTION
from desa2va_mm.datasets.transforms.tokenize_conversation import (TokenizeConversation,
                                                                  adopt_model_tokenizer)
from desa2va_mm.datasets.video_io import FrameSource
from desa2va_mm.registry import TRANSFORMS
from desa2va_mm.utils.sa2va_release import (is_sa2va_release, load_sa2va_release,
                                            use_release_tokenizer)
from .inputs import (PIPELINE_TEMPLATE, ImageType, RegionType, VideoType, build_prompts,
                     chat_prompt, check_history, check_texts, is_region, list_images,
                     load_image, open_video, region_masks, with_region_placeholder)

#: Transforms of a test pipeline that read a dataset (files, annotations, targets); the
#: inferencer gives the pipeline user inputs instead.
DATASET_TRANSFORMS = ('LoadImageFromFile', 'LoadAnnotations', 'LoadReferringMasks',
                      'SampleReferringTargets', 'InferencerLoader', 'LoadImageFromNDArray',
                      'LoadVideoAnnotations')
#: Steps the inferencer needs in each test pipeline (it writes their inputs).
IMAGE_STEPS = ('BuildReferringConversation', 'TokenizeConversation', 'PackReferringInputs')
VIDEO_STEPS = ('SampleVideoExpressions', 'SampleVideoFrames', 'LoadVideoFrames',
               'VideoFrameTiling', 'BuildReferringConversation', 'TokenizeConversation',
               'PackVideoReferringInputs')
#: Question of a derived video pipeline (Sa2VA's video question, docs/method.md §12).


#: Inference precisions: name -> the model's ``predict_autocast`` (None: float32).
DTYPES = {'fp32': None, 'bf16': 'bfloat16', 'fp16': 'float16'}
_DTYPE_ALIASES = {'float32': 'fp32', 'bfloat16': 'bf16', 'float16': 'fp16',
                  torch.float32: 'fp32', torch.bfloat16: 'bf16', torch.float16: 'fp16'}


def resolve_device(device: Optional[Union[str, torch.device]]) -> str:
    """``'auto'`` or None -> ``'cuda'`` when CUDA is available, else ``'cpu'``; any other
    device (``'cpu'``, ``'cuda:1'``, a ``torch.device``) as a string."""
    if device is None or device == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    return str(device)


def resolve_dtype(dtype: Union[str, torch.dtype]) -> str:
    """The precision name (``'fp32'``, ``'bf16'``, ``'fp16'``) of ``dtype``: one of those,
    ``'float32'`` / ``'bfloat16'`` / ``'float16'`` or the torch dtype.

    Raises:
        ValueError: Any other value (the message lists the allowed ones).
    """
    if isinstance(dtype, str) and dtype.lower() in DTYPES:
        return dtype.lower()
    name = _DTYPE_ALIASES.get(dtype.lower() if isinstance(dtype, str) else dtype)
    if name is None:
        raise ValueError(f'dtype must be one of {list(DTYPES)} (or float32 / bfloat16 / '
                         f'float16, or the torch dtype), got {dtype!r}')
    return name


def _type_name(cfg: dict) -> str:
    name = cfg.get('type', '')
    name = name if isinstance(name, str) else getattr(name, '__name__', '')
    return name.split('.')[-1]


def _vision_tile_size(model) -> int:
    """Side of one InternVL tile: the vision tower's input size."""
    size = model.mllm.config.vision_config.image_size
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def default_test_pipeline(model) -> List[dict]:
    """Sa2VA's image test pipeline for a built model (exported folders, video configs).

    InternVL dynamic tiling (1-12 tiles + thumbnail) at the vision tower's size, SAM-2's
    input resized as Sa2VA does (``DirectResize``: PIL bicubic), the segmentation question, ChatML tokens; the prompt budget is the LLM's context
    minus the answer budget.
    """
    size = model.grounding_encoder.image_size
    context = getattr(model.mllm.config.text_config, 'max_position_embeddings', 8192)
    return [
        dict(type='InternVLTiling', tile_size=_vision_tile_size(model), min_tiles=1,
             max_tiles=12, use_thumbnail=True),
        dict(type='DirectResize', scale=(size, size)),
        dict(type='BuildReferringConversation', mode='test'),
        dict(type='TokenizeConversation', tokenizer=None, template=None,
             num_image_tokens_per_tile=model.mllm.num_image_tokens_per_tile,
             max_length=int(context) - int(model.max_new_tokens)),
        dict(type='PackReferringInputs'),
    ]


def derive_video_test_pipeline(image_pipeline: Sequence[dict], model) -> List[dict]:
    """The video test pipeline of a config that has none (an image-trained model).

    The video pipelines' steps (configs/_base_/datasets/video_pipelines.py) with the image
    test pipeline's settings: its ``InternVLTiling`` size and normalisation (the model's
    vision tower size when it has no tiling step) for the one tile per key frame, and its
    ``TokenizeConversation`` (tokenizer, template, tokens per tile, prompt budget). Sa2VA's
    video protocol otherwise: the first 5 frames are key frames, the question is
    Sa2VA's video evaluation question
    (``VIDEO_TEST_QUESTION``, ``'Please segment {expression}.'``).

    Args:
        image_pipeline: The image test pipeline (list of transform configs).
        model: The built model (vision tower size).

    Returns:
        Transform configs ending in ``PackVideoReferringInputs``.

    Raises:
        ValueError: The image pipeline has no ``TokenizeConversation``.
    """
    steps = {_type_name(step): step for step in image_pipeline}
    if 'TokenizeConversation' not in steps:
        raise ValueError('cannot derive a video test pipeline: the image test pipeline has '
                         f'no TokenizeConversation (steps: {list(steps)})')
    tiling = steps.get('InternVLTiling', {})
    frame_tiling = dict(type='VideoFrameTiling',
                        tile_size=tiling.get('tile_size', _vision_tile_size(model)))
    frame_tiling.update({k: tiling[k] for k in ('mean', 'std') if k in tiling})
    return [
        dict(type='SampleVideoExpressions', mode='all'),
        dict(type='SampleVideoFrames', mode='test', key_frame_strategy='first',
             num_key_frames=5),
        dict(type='LoadVideoFrames'),
        frame_tiling,
        dict(type='BuildReferringConversation', mode='test',
             test_question=VIDEO_TEST_QUESTION),
        copy.deepcopy(steps['TokenizeConversation']),
        dict(type='PackVideoReferringInputs'),
    ]


def config_test_pipelines(cfg: Config) -> Tuple[Optional[list], Optional[list]]:
    """The image and the video test pipeline of a config (either may be None).

    Walks ``test_dataloader.dataset``: a ``ConcatDataset`` (RefCOCO val / testA / testB, or
    image and video sets together) and dataset wrappers are searched in order; a pipeline
    with ``PackVideoReferringInputs`` is the video one, one with ``PackReferringInputs`` and
    ``BuildReferringConversation`` the image one (question-answering pipelines are
    skipped); the first of each kind is used (the splits of one family share it).
    """
    found: Dict[str, list] = {}
    loader = cfg.get('test_dataloader') or {}
    todo = [loader['dataset']] if loader.get('dataset') is not None else []
    while todo:
        dataset = todo.pop(0)
        if dataset.get('pipeline') is not None:
            names = {_type_name(step) for step in dataset['pipeline']}
            if 'PackVideoReferringInputs' in names:
                found.setdefault('video', list(dataset['pipeline']))
            elif {'PackReferringInputs', 'BuildReferringConversation'} <= names:
                found.setdefault('image', list(dataset['pipeline']))
        todo.extend(dataset.get('datasets') or [])
        if dataset.get('dataset') is not None:
            todo.append(dataset['dataset'])
    return found.get('image'), found.get('video')


class _ShownFrames(FrameSource):
    """A frame source that keeps the last ``keep`` frames its iteration yielded.

    The model streams the video through the data preprocessor's ``FrameStream``, which
    reads a few frames ahead and frees each decoded frame once prepared; this keeps the
    frames read but not yet drawn so the inferencer draws each overlay on its own frame
    (``keep`` frames alive, whatever the video's length: the stream's read-ahead + 1).
    Every streamed frame must have frame 0's size (the masks of a video share one size).
    """

    def __init__(self, source: FrameSource, keep: int = 1) -> None:
        self.source = source
        self.video_id = source.video_id
        self.frame_names = source.frame_names
        self.keep = keep
        self.recent: Dict[int, np.ndarray] = {}

    def shown(self, index: int) -> np.ndarray:
        """Frame ``index``, one of the last ``keep`` read."""
        if index not in self.recent:
            raise RuntimeError(f'video {self.video_id!r}: frame {index} is no longer kept '
                               f'(the last {self.keep} read are {sorted(self.recent)})')
        return self.recent[index]

    def _read(self, index: int) -> np.ndarray:
        return self.source[index]

    def get_frames(self, indices: Sequence[int]) -> List[np.ndarray]:
        return self.source.get_frames(indices)

    def __iter__(self):
        size = None
        for t, frame in enumerate(self.source):
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise ValueError(f'video {self.video_id!r}: frame {t} '
                                 f'({self.frame_names[t]!r}) is {frame.shape[0]}x'
                                 f'{frame.shape[1]}, frame 0 is {size[0]}x{size[1]}; every '
                                 'frame of a video must have one size')
            self.recent[t] = frame
            self.recent.pop(t - self.keep, None)
            yield frame

    def close(self) -> None:
        self.source.close()


class DeSa2VAInferencer(BaseInferencer):
    """Referring segmentation, answers and chat with a DeSa2VA / Sa2VA model, on images
    and videos.

    In the style of mmdet's ``DetInferencer``: built from a config (path, ``Config`` or
    dict) and a checkpoint. Every input takes the path ``tools/test.py`` takes on a test
    set: the config's test pipeline (without the steps that read a dataset) -> collate ->
    the model's data preprocessor -> the model. Images: ``__call__`` and :meth:`chat`
    (``DeSa2VA.predict``: each image is encoded once by SAM-2 and once by the vision tower,
    every expression of the image is one sequence of a single batched generation).
    Videos: :meth:`predict_video` (the config's video test pipeline, or one derived from
    its image pipeline by :func:`derive_video_test_pipeline`; the model's streaming video
    API reads the data preprocessor's frame stream, one frame at a time).

    Example::

        inferencer = DeSa2VAInferencer('configs/sa2va/sa2va_tiny.py', 'iter_3000.pth',
                                       device='cpu')
        result = inferencer('demo.jpg', texts=['the red circle', 'the leftmost shape'])
        result['predictions'][0]['masks']     # (2, H, W) bool at the image's resolution
        result['predictions'][0]['answers']   # ['It is [SEG].', ...]
        reply = inferencer.chat('demo.jpg', 'Please segment the red circle.')
        reply = inferencer.chat('demo.jpg', 'And the blue square?', history=reply['history'])
        video = inferencer.predict_video('clip.mp4', ['the red circle'], out_dir='outputs')
        video['masks']                        # (1, T, H, W) bool

    Args:
        model: Config path, ``Config`` or dict with ``model`` and ``test_dataloader``
            (whose test pipelines are reused), or a folder exported by
            ``tools/model_converters/desa2va_to_hf.py``.
        weights: Checkpoint (``.pth``, loaded with ``weights_only=True``), a Sa2VA release
            folder for a Sa2VA-baseline config (converted in memory,
            ``desa2va_mm.utils.sa2va_release.load_sa2va_release``), or None for random
            weights (with a warning); None with an exported folder.
        device: ``'auto'`` (or None): CUDA when available, else the CPU; or ``'cpu'``,
            ``'cuda:0'``...
        dtype: Precision of every prediction (images, chat, videos): None keeps the
            config's (its ``model.predict_autocast``, bf16 on CUDA in the real-size
            configs as Sa2VA infers; float32 on the CPU); or ``'fp32'``,
            ``'bf16'`` or ``'fp16'`` (also ``'float32'`` / ``'bfloat16'`` /
            ``'float16'`` or the torch dtype). bf16 / fp16 run the model under
            ``torch.autocast`` on its device, CUDA or CPU (the model's
            ``predict_autocast``, which this sets; weights stay float32); masks come back
            bool and scores float32 either way. See docs/inference.md.
        scope: Registry scope (default ``'desa2va_mm'``).
        show_progress: Show a progress bar over image batches and video frames.
        max_new_tokens: Override the model's generation budget per answer.
        pipeline_config: With an exported folder as ``model``: a config (path or
            ``Config``) whose test pipelines to use (those the model was trained with);
            None derives Sa2VA's image pipeline from the model (:func:`default_test_pipeline`).

    Attributes:
        pipeline: The image test transforms.
        video_pipeline: The video test transforms.
        device: The device the model is on (``'auto'`` resolved).
        dtype: The precision predictions run in (``'fp32'``, ``'bf16'`` or ``'fp16'``).
    """

    preprocess_kwargs: set = {'texts', 'template', 'regions'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {'return_vis', 'show', 'wait_time', 'no_save_vis', 'out_dir'}
    postprocess_kwargs: set = {'print_result', 'no_save_pred', 'return_datasamples'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict],
                 weights: Optional[str] = None,
                 device: Optional[str] = 'auto',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 scope: str = 'desa2va_mm',
                 show_progress: bool = True,
                 max_new_tokens: Optional[int] = None,
                 pipeline_config: Optional[Union[str, Config]] = None) -> None:
        from desa2va_mm.utils import register_all_modules
        if dtype is not None:
            dtype = resolve_dtype(dtype)  # a bad value fails before the model is built
        device = resolve_device(device)
        register_all_modules()  # our modules, mmdet's and the checkpoint allow-list
        init_default_scope(scope)
        self._export_dir = None
        if isinstance(model, str) and osp.isdir(model):
            # An exported folder (tools/model_converters/desa2va_to_hf.py): weights and
            # model config come from it; the test pipelines from ``pipeline_config`` or,
            # without one, from the model itself (see :func:`default_test_pipeline`).
            if weights is not None:
                raise ValueError('an exported folder holds its weights: pass weights=None')
            self._export_dir = model
            model = Config.fromfile(pipeline_config) if isinstance(pipeline_config, str) \
                else copy.deepcopy(pipeline_config) if pipeline_config is not None \
                else Config(dict(visualizer=dict(type='ReferringSegVisualizer')))
        elif isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'config {model!r} does not exist')
        if weights is not None and not osp.isfile(weights) and not is_sa2va_release(weights):
            raise FileNotFoundError(f'checkpoint {weights!r} does not exist (a folder must be '
                                    'a Sa2VA release: config.json of sa2va_chat + safetensors)')
        super().__init__(model=model, weights=weights, device=device, scope=scope,
                         show_progress=show_progress)
        if max_new_tokens is not None:
            self.model.max_new_tokens = max_new_tokens
        self.device = device
        self._set_dtype(dtype)
        self._check_context()
        self.num_visualized = 0

    # ------------------------------------------------------------------ set-up
    def _init_model(self, cfg, weights, device='cpu'):
        if self._export_dir is None and weights is not None and is_sa2va_release(weights):
            # A Sa2VA release folder for a Sa2VA-baseline config: converted in memory.
            from desa2va_mm.registry import MODELS
            use_release_tokenizer(cfg.model, weights)
            model = MODELS.build(cfg.model)
            model.cfg = cfg
            load_sa2va_release(model, weights, logger='current')
            return model.to(device or 'cpu').eval()
        if self._export_dir is None:
            return super()._init_model(cfg, weights, device)
        from desa2va_mm.utils.hf_export import load_desa2va_export
        return load_desa2va_export(self._export_dir, device=device or 'cpu')

    def _set_dtype(self, dtype: Optional[str]) -> None:
        """Make the model predict in ``dtype`` on its device (its ``predict_autocast``,
        CPU included); a device that cannot is an error, not a silent float32 run. None
        keeps the model's configured precision."""
        model = self.model
        if dtype is None:
            predict_dtype = getattr(model, 'predict_dtype', torch.float32)
            self.dtype = resolve_dtype(predict_dtype)
            return
        if not hasattr(model, 'predict_autocast'):
            if dtype != 'fp32':
                raise ValueError(f'dtype={dtype!r}: {type(model).__name__} has no '
                                 "predict_autocast; use dtype='fp32'")
            self.dtype = dtype
            return
        model.predict_autocast = DTYPES[dtype]
        model.predict_autocast_cpu = True
        wanted = getattr(torch, DTYPES[dtype] or 'float32')
        if model.predict_dtype is not wanted:
            raise ValueError(f'dtype={dtype!r} is not supported on device {self.device!r} '
                             f'(the model would run in {model.predict_dtype}); use '
                             f"dtype='fp16' or 'fp32' there (allowed: {list(DTYPES)})")
        self.dtype = dtype

    def _init_pipeline(self, cfg: Config) -> List[Any]:
        """Build the image and the video test transforms (see :func:`config_test_pipelines`;
        a config without an image pipeline gets :func:`default_test_pipeline`, one without
        a video pipeline :func:`derive_video_test_pipeline`). Returns the image one."""
        image_cfg, video_cfg = config_test_pipelines(cfg)
        if image_cfg is None and video_cfg is None and self._export_dir is None:
            raise ValueError('the config needs test_dataloader.dataset.pipeline (or a '
                             'ConcatDataset of datasets with one); the inferencer reuses its '
                             'test-time transforms')
        if image_cfg is None:
            image_cfg = default_test_pipeline(self.model)
        if video_cfg is None:
            video_cfg = derive_video_test_pipeline(image_cfg, self.model)
        self.video_pipeline = self._build_transforms(video_cfg, VIDEO_STEPS, 'video')
        return self._build_transforms(image_cfg, IMAGE_STEPS, 'image')

    def _build_transforms(self, pipeline_cfg: Sequence[dict], needed: Sequence[str],
                          kind: str) -> List[Any]:
        """A test pipeline's transforms without the dataset-reading steps.

        Prompts are test prompts, the image pipeline packs no ground truth, and the
        tokenisation step takes the model's tokenizer and chat template (or must name the
        same ones).
        """
        transforms = []
        for step in pipeline_cfg:
            name = _type_name(step)
            if name in DATASET_TRANSFORMS:
                continue
            step = copy.deepcopy(step)
            if name == 'BuildReferringConversation':
                step['mode'] = 'test'
            if name == 'PackReferringInputs':
                keys = step.get('meta_keys', ('img_id', 'img_path', 'ori_shape', 'img_shape',
                                              'scale_factor', 'text'))
                step['meta_keys'] = tuple(k for k in keys if k != 'gt_masks')
            transform = TRANSFORMS.build(step)
            if isinstance(transform, TokenizeConversation):
                adopt_model_tokenizer(transform, self.model.mllm.tokenizer,
                                      self.model.mllm.chat_template,
                                      f'{kind} test pipeline (inferencer)')
            transforms.append(transform)
        names = [type(t).__name__ for t in transforms]
        for step in needed:
            if step not in names:
                raise ValueError(f'the {kind} test pipeline has no {step}; the inferencer '
                                 f'needs it (pipeline: {names})')
        return transforms

    def _check_context(self) -> None:
        """Keep prompt + answer inside the LLM's context (prompts are shortened, with a
        warning, by ``TokenizeConversation``; see docs/inference.md)."""
        context = getattr(self.model.mllm.config.text_config, 'max_position_embeddings', None)
        budget = int(self.model.max_new_tokens)
        for transforms in (self.pipeline, self.video_pipeline):
            tokenize = next(t for t in transforms if isinstance(t, TokenizeConversation))
            if context is not None and tokenize.max_length + budget > context:
                tokenize.max_length = context - budget
        self.max_prompt_length = next(t for t in self.pipeline
                                      if isinstance(t, TokenizeConversation)).max_length

    def _init_collate(self, cfg):
        return pseudo_collate

    @staticmethod
    def _run_pipeline(transforms: Sequence[Any], results: dict) -> dict:
        """Run ``transforms`` on one input; prompts the caller wrote (verbatim questions,
        other templates, chat) replace the pipeline's ``BuildReferringConversation``. With
        region prompts (``prompt_masks``), the region list goes after the image in every
        prompt before it is tokenised (docs/visual_prompts.md)."""
        for transform in transforms:
            if 'prompts' in results and type(transform).__name__ == \
                    'BuildReferringConversation':
                continue
            if isinstance(transform, TokenizeConversation) and \
                    results.get('prompt_masks') is not None:
                results['prompts'] = with_region_placeholder(results['prompts'])
            results = transform(results)
        return results

    # ------------------------------------------------------------------ images
    def _inputs_to_list(self, inputs) -> list:
        if isinstance(inputs, str) and osp.isdir(inputs):
            return list_images(inputs)
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError('no input image given')
            return list(inputs)
        return [inputs]

    @staticmethod
    def _texts_per_input(texts, num_inputs: int) -> List[List[str]]:
        """``texts``: one str or a flat list (every image gets them all), or one list per
        image."""
        if texts is None:
            raise ValueError('texts: give at least one expression (str or list of str)')
        if isinstance(texts, str):
            return [check_texts([texts], f'input {i}') for i in range(num_inputs)]
        texts = list(texts)
        if texts and all(isinstance(t, (list, tuple)) for t in texts):
            if len(texts) != num_inputs:
                raise ValueError(f'texts: {len(texts)} lists of expressions for '
                                 f'{num_inputs} images (one list per image)')
            return [check_texts(t, f'input {i}') for i, t in enumerate(texts)]
        return [check_texts(texts, f'input {i}') for i in range(num_inputs)]

    @staticmethod
    def _regions_per_input(regions, num_inputs: int) -> list:
        """``regions``: None, one list of regions asked of every image, or one list per
        image (see :meth:`__call__`)."""
        if regions is None:
            return [None] * num_inputs
        if isinstance(regions, np.ndarray) and regions.ndim == 3 or is_region(regions):
            return [regions] * num_inputs
        regions = list(regions)
        if all(is_region(r) for r in regions):
            return [regions] * num_inputs
        if len(regions) != num_inputs:
            raise ValueError(f'regions: {len(regions)} lists of regions for {num_inputs} '
                             'images (one list per image, or one list for all)')
        return regions

    @staticmethod
    def _image_results(image: ImageType, index: int, texts: List[str],
                       regions: Optional[Sequence[RegionType]] = None) -> dict:
        """What the dataset-reading steps would give the image test pipeline (and
        ``LoadRegionPrompts``: ``prompt_masks`` (R, H, W) when regions are given)."""
        img, path = load_image(image, index)
        h, w = img.shape[:2]
        results = dict(img=img, img_path=path if path else f'input_{index}', img_id=index,
                       ori_shape=(h, w), img_shape=(h, w), text=list(texts))
        masks = region_masks(regions, (h, w), f'input {index}')
        if masks is not None:
            results['prompt_masks'] = masks
        return results

    def preprocess(self, inputs: list, batch_size: int = 1, texts=None,
                   template: Optional[str] = PIPELINE_TEMPLATE, regions=None, **kwargs):
        """Load the images and run the image test pipeline; yields collated batches.

        Args:
            inputs: Images (paths or BGR arrays).
            batch_size: Images per model call.
            texts: Expressions (see :meth:`__call__`).
            template: ``'pipeline'``: each text is an expression put in the pipeline's
                question template (``'Please segment {expression} in this image.'``, what
                the model was trained on); None: each text is a question used verbatim;
                or a template with ``{expression}`` (:func:`~.inputs.build_prompts`).
            regions: Region prompts (see :meth:`__call__`).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        per_input = self._texts_per_input(texts, len(inputs))
        regions_of = self._regions_per_input(regions, len(inputs))
        chunk = []
        for i, (image, image_texts) in enumerate(zip(inputs, per_input)):
            results = self._image_results(image, i, image_texts, regions_of[i])
            prompts = build_prompts(image_texts, template)
            if prompts is not None:
                results['prompts'] = prompts
            chunk.append(self._run_pipeline(self.pipeline, results))
            if len(chunk) == batch_size:
                yield self.collate_fn(chunk)
                chunk = []
        if chunk:
            yield self.collate_fn(chunk)

    # ------------------------------------------------------------------ call
    def __call__(self,
                 inputs,
                 texts=None,
                 batch_size: int = 1,
                 template: Optional[str] = PIPELINE_TEMPLATE,
                 return_vis: bool = False,
                 show: bool = False,
                 wait_time: float = 0,
                 out_dir: str = '',
                 no_save_vis: bool = False,
                 no_save_pred: bool = True,
                 print_result: bool = False,
                 return_datasamples: bool = False,
                 regions=None) -> dict:
        """Segment every expression on every image.

        Args:
            inputs: An image path, a BGR uint8 array, a folder of images, or a list of
                paths / arrays.
            texts: One expression (str), a list of expressions asked of every image, or
                one list of expressions per image.
            batch_size: Images per model call (all expressions of an image always go
                together).
            template: See :meth:`preprocess` (None: texts are questions, used verbatim).
            return_vis: Return the overlays (RGB arrays) under ``'visualization'``.
            show: Show the overlays in a window.
            wait_time: Seconds each shown overlay stays.
            out_dir: Write ``vis/<name>.png`` overlays (unless ``no_save_vis``) and, unless
                ``no_save_pred``, ``preds/<name>.json`` (answers, scores, RLE masks;
                ``seg_masks``: every ``[SEG]``'s, in order).
            no_save_vis: Do not write overlays.
            no_save_pred: Do not write prediction files.
            print_result: Print each prediction's answers and scores.
            return_datasamples: Return the model's ``DetDataSample``s instead of dicts.
            regions: Region prompts (visual prompts, docs/visual_prompts.md) the texts can
                name as ``region1``, ``region2``...: a list of regions asked of every
                image, or one list per image; a region is an ``(x1, y1, x2, y2)`` pixel
                box, an (H, W) mask array or a mask image path. E.g.
                ``texts='What is region1?'`` (with ``template=None``) or
                ``texts='the object like region1'``.

        Returns:
            dict: ``predictions``: per image a dict with ``img_path``, ``texts``,
            ``answers``, ``masks`` ((N, H, W) bool array at the image's resolution, one
            per text, empty when the answer has no ``[SEG]``) and ``scores`` (N predicted
            IoUs); ``visualization``: list of RGB arrays (or None).
        """
        ori_inputs = self._inputs_to_list(inputs)
        preds = []
        batches = self.preprocess(ori_inputs, batch_size=batch_size, texts=texts,
                                  template=template, regions=regions)
        if self.show_progress and len(ori_inputs) > batch_size:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(ori_inputs))
        else:
            bar = None
        for data in batches:
            out = self.forward(data)
            preds.extend(out)
            if bar is not None:
                for _ in out:
                    bar.update()
        visualization = self.visualize(
            ori_inputs, preds, return_vis=return_vis, show=show, wait_time=wait_time,
            no_save_vis=no_save_vis, out_dir=out_dir)
        return self.postprocess(preds, visualization, return_datasamples=return_datasamples,
                                print_result=print_result, no_save_pred=no_save_pred,
                                pred_out_dir=osp.join(out_dir, 'preds') if out_dir else '')

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> list:
        return self.model.test_step(inputs)

    # ------------------------------------------------------------------ outputs
    @staticmethod
    def _name(sample, index: int) -> str:
        path = sample.metainfo.get('img_path', '')
        if path and osp.isfile(path):
            return osp.splitext(osp.basename(path))[0]
        return f'input_{index}'

    @staticmethod
    def _per_text(sample) -> Tuple[np.ndarray, np.ndarray]:
        """Each text's mask (N, H, W) bool and score (N,): its answer's first ``[SEG]``
        (``pred_instances`` holds one row per ``[SEG]``)."""
        from desa2va_mm.evaluation.metrics.referring_seg_metric import sentence_rows
        pred = sample.pred_instances
        rows = sentence_rows(pred, sample.metainfo.get('img_path', 'the image'))
        return (pred.masks[rows.to(pred.masks.device)].cpu().numpy().astype(bool),
                pred.scores[rows.to(pred.scores.device)].cpu().numpy())

    @staticmethod
    def _per_seg(sample) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Every mask of each text, in answer order: per text a (K, H, W) bool array and
        a (K,) score array, one row per ``[SEG]`` of its answer (one empty row for an
        answer without ``[SEG]``, as the model gives it)."""
        pred = sample.pred_instances
        masks = pred.masks.cpu().numpy().astype(bool)
        scores = pred.scores.float().cpu().numpy()
        if 'sentence_idx' not in pred:
            return [m[None] for m in masks], [s[None] for s in scores]
        idx = pred.sentence_idx.cpu().numpy()
        num_texts = len(sample.metainfo.get('text', [])) or (int(idx.max()) + 1 if len(idx)
                                                               else 0)
        return ([masks[idx == t] for t in range(num_texts)],
                [scores[idx == t] for t in range(num_texts)])

    def render(self, image_bgr: np.ndarray, sample) -> np.ndarray:
        """Overlay of one prediction: one row per text with its masks (the union of every
        ``[SEG]`` of its answer), text and answer; the score is the first ``[SEG]``'s."""
        masks, scores = self._per_text(sample)
        seg_masks, _ = self._per_seg(sample)
        if len(seg_masks) == len(masks):
            masks = np.stack([m.any(0) if len(m) else first
                              for m, first in zip(seg_masks, masks)]) if len(masks) else masks
        return self.visualizer.render(image_bgr[..., ::-1], list(sample.metainfo['text']),
                                      None, masks, sample.metainfo.get('pred_answers'),
                                      scores)

    def visualize(self, inputs: list, preds: list, return_vis: bool = False,
                  show: bool = False, wait_time: float = 0, no_save_vis: bool = False,
                  out_dir: str = '', **kwargs) -> Optional[List[np.ndarray]]:
        """Draw the overlays (see :class:`ReferringSegVisualizer`); RGB arrays or None."""
        save = bool(out_dir) and not no_save_vis
        if not (return_vis or show or save) or self.visualizer is None:
            return None
        import mmcv
        canvases = []
        for i, (image, sample) in enumerate(zip(inputs, preds)):
            img, _ = load_image(image, i)
            canvas = self.render(img, sample)
            if show:
                self.visualizer.show(canvas, win_name=self._name(sample, i),
                                     wait_time=wait_time)
            if save:
                mmcv.imwrite(canvas[..., ::-1],
                             osp.join(out_dir, 'vis', f'{self._name(sample, i)}.png'))
            canvases.append(canvas)
            self.num_visualized += 1
        return canvases if return_vis else None

    @staticmethod
    def pred_to_dict(sample) -> dict:
        """One ``DetDataSample`` -> plain dict, one mask (bool numpy) and score per text:
        its answer's first ``[SEG]`` (``masks``, ``scores``); and every ``[SEG]``'s, in
        answer order (``seg_masks``: per text (K, H, W) bool; ``seg_scores``: per text K
        floats)."""
        masks, scores = DeSa2VAInferencer._per_text(sample)
        seg_masks, seg_scores = DeSa2VAInferencer._per_seg(sample)
        return dict(img_path=sample.metainfo.get('img_path'),
                    texts=list(sample.metainfo.get('text', [])),
                    answers=list(sample.metainfo.get('pred_answers', [])),
                    masks=masks, scores=[float(s) for s in scores], seg_masks=seg_masks,
                    seg_scores=[[float(v) for v in s] for s in seg_scores])

    def postprocess(self, preds: list, visualization, return_datasamples: bool = False,
                    print_result: bool = False, no_save_pred: bool = True,
                    pred_out_dir: str = '', **kwargs) -> dict:
        results = [self.pred_to_dict(p) for p in preds]
        if print_result:
            for r in results:
                for text, answer, score, mask in zip(r['texts'], r['answers'], r['scores'],
                                                     r['masks']):
                    print(f'{r["img_path"]}: "{text}" -> "{answer}" (IoU pred {score:.3f}, '
                          f'{int(mask.sum())} px)')
        if pred_out_dir and not no_save_pred:
            from pycocotools import mask as mask_utils
            os.makedirs(pred_out_dir, exist_ok=True)
            for i, (r, sample) in enumerate(zip(results, preds)):
                def to_rle(m):
                    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                    return dict(size=[int(s) for s in rle['size']],
                                counts=rle['counts'].decode())
                # masks: each text's first [SEG]; seg_masks: all of them, in answer order.
                record = dict(img_path=r['img_path'], texts=r['texts'], answers=r['answers'],
                              scores=r['scores'], masks=[to_rle(m) for m in r['masks']],
                              seg_masks=[[to_rle(m) for m in per_text]
                                         for per_text in r['seg_masks']],
                              seg_scores=r['seg_scores'])
                # temp file + rename: an interrupted run leaves no half-written JSON
                from desa2va_mm.utils.atomic_io import atomic_open
                with atomic_open(osp.join(pred_out_dir, f'{self._name(sample, i)}.json')) as f:
                    json.dump(record, f, indent=1)
        return dict(predictions=preds if return_datasamples else results,
                    visualization=visualization)

    # ------------------------------------------------------------------ chat
    def chat(self, image: ImageType, question: str,
             history: Optional[List[Dict[str, str]]] = None,
             return_vis: bool = False,
             regions: Optional[Sequence[RegionType]] = None) -> dict:
        """One turn of a multi-turn conversation about one image.

        The whole conversation (the image, every earlier question and the model's own
        answers) is the prompt of the new turn (:func:`~.inputs.chat_prompt`); ``[SEG]``
        tokens of earlier answers stay in it as tokens.

        Args:
            image: Image path or BGR array (the same one every turn).
            question: The new user turn, used verbatim (e.g. ``'Please segment the red
                circle.'`` or ``'What is the largest shape?'``).
            history: ``[{'user': ..., 'assistant': ...}, ...]`` of earlier turns (the
                ``history`` this method returned last time), or None to start.
            return_vis: Also return the overlay (RGB array) under ``'visualization'``.
            regions: Region prompts of the conversation (give the same ones every turn):
                boxes ``(x1, y1, x2, y2)``, (H, W) masks or mask paths, named
                ``region1``, ``region2``... in the questions (``'What is region1?'``,
                ``'Please segment the object like region1.'``).

        Returns:
            dict: ``answer`` (str), ``masks`` ((K, H, W) bool: one per ``[SEG]`` of the
            answer, in order; one empty mask without one), ``scores`` (K predicted IoUs),
            ``mask`` / ``score`` (the first of them), ``history`` (with this turn).
        """
        question = check_texts([question], 'chat')[0]
        history = check_history(history or [])
        results = self._image_results(image, 0, [question], regions)
        results['prompts'] = chat_prompt(history, question)
        data = self.collate_fn([self._run_pipeline(self.pipeline, results)])
        sample = self.forward(data)[0]
        answer = sample.metainfo['pred_answers'][0]
        seg_masks, seg_scores = self._per_seg(sample)
        out = dict(answer=answer, masks=seg_masks[0], scores=[float(v) for v in seg_scores[0]],
                   mask=seg_masks[0][0], score=float(seg_scores[0][0]),
                   history=history + [dict(user=question.strip(), assistant=answer)])
        if return_vis:
            out['visualization'] = self.render(load_image(image)[0], sample)
        return out

    # ------------------------------------------------------------------ video
    def _video_transforms(self, num_key_frames: Optional[int],
                          key_frame_strategy: Optional[str]) -> List[Any]:
        """The video test transforms, with this call's key-frame settings when given."""
        if num_key_frames is None and key_frame_strategy is None:
            return self.video_pipeline
        transforms = list(self.video_pipeline)
        i = next(i for i, t in enumerate(transforms)
                 if type(t).__name__ == 'SampleVideoFrames')
        pipeline_step = transforms[i]
        transforms[i] = TRANSFORMS.build(dict(
            type='SampleVideoFrames', mode='test',
            num_key_frames=num_key_frames if num_key_frames is not None
            else pipeline_step.num_key_frames,
            key_frame_strategy=key_frame_strategy if key_frame_strategy is not None
            else pipeline_step.key_frame_strategy))
        return transforms

    def predict_video(self,
                      video: VideoType,
                      texts: Union[str, Sequence[str]],
                      num_key_frames: Optional[int] = None,
                      key_frame_strategy: Optional[str] = None,
                      template: Optional[str] = PIPELINE_TEMPLATE,
                      out_dir: str = '',
                      fps: float = 10.0,
                      save_frames: bool = False,
                      return_masks: bool = True,
                      history: Optional[List[Dict[str, str]]] = None,
                      regions: Optional[Sequence[RegionType]] = None,
                      region_frame: int = 0) -> dict:
        """Segment expressions through a video: key frames to the MLLM, SAM-2 tracks.

        The path ``tools/test.py`` takes on a video test set: the video test pipeline picks
        the key frames, tiles them (one InternVL tile each) and tokenises one prompt per
        expression, and packs the video as a lazy frame source; after collation the data
        preprocessor pads the prompts and wraps the source in a ``FrameStream``. The model
        answers every expression over the key frames (``read_video_prompts``) and streams
        the video (``segment_video``): key frames are decoded from every ``[SEG]`` of each
        answer (one tracked object per ``[SEG]``) and written to SAM-2's memory, the other
        frames are tracked; the overlay draws each object in its own colour. One decoded
        frame is in memory at a time; the MP4 / PNGs are written as frames come.

        Args:
            video: An mp4 (or other PyAV-readable file), a folder of frames, a list of frame
                paths or of BGR arrays, or a (T, H, W, 3) BGR array
                (:func:`~.inputs.open_video`).
            texts: One expression or a list (E of them).
            num_key_frames: Frames the MLLM reads; None: the video test pipeline's
                (``SampleVideoFrames``; Sa2VA: 5).
            key_frame_strategy: ``'first'`` (Sa2VA) or ``'uniform'``; None: the pipeline's.
            template: ``'pipeline'``: the pipeline's question (Sa2VA's
                ``'Please segment {expression}.'`` unless the config sets another); None: texts are questions, used verbatim;
                or a template with ``{expression}``.
            out_dir: Write ``<video>.mp4`` (every expression's mask on every frame, with
                the expressions and answers drawn) and, with ``save_frames``,
                ``<video>/<frame>.png``.
            fps: Frame rate of the written MP4.
            save_frames: Also write one PNG per frame.
            return_masks: Return the (E, T, H, W) masks (set False for long videos: the
                files are still written while streaming).
            history: Multi-turn chat about the video: earlier ``{'user', 'assistant'}``
                turns (the ``history`` returned last time, ``[]`` to start); ``texts`` is
                then the one new question (used verbatim, ``template`` ignored) and the
                result has ``history`` with this turn appended.
            regions: Region prompts drawn on frame ``region_frame`` (boxes
                ``(x1, y1, x2, y2)``, (H, W) masks or mask paths), named ``region1``,
                ``region2``... in the texts, e.g. ``'the object like region1'``: the MLLM
                reads each region's features on that key frame, and the answer's
                ``[SEG]`` is tracked through the video (docs/visual_prompts.md).
            region_frame: The frame the regions are drawn on; it must be one of the key
                frames the MLLM reads (frame 0 always is).

        Returns:
            dict: ``video_id``, ``frame_names`` (T), ``key_frame_ids``, ``texts`` (E),
            ``answers`` (E), ``masks`` ((E, T, H, W) bool at frame 0's size, each answer's
            first ``[SEG]``, or None), ``scores`` ((E, T) float32 predicted IoU, 0 where an
            answer has no ``[SEG]``), ``seg_masks`` (per expression a (K, T, H, W) bool
            masklet per ``[SEG]`` of its answer, in answer order; K = 0 without one; None
            without ``return_masks``), ``seg_scores`` (per expression (K, T) float32),
            ``out_file`` (the MP4 or None) and, with ``history``, ``history``.

        Raises:
            FileNotFoundError, ValueError: A missing, empty or corrupt video, an empty
                text, several questions in a chat turn, a bad history turn (each names the
                video / text / turn).
            NotImplementedError: The model has no video API.
        """
        model = self.model
        if not (hasattr(model, 'read_video_prompts') and hasattr(model, 'segment_video')):
            raise NotImplementedError(f'{type(model).__name__} has no video path '
                                      '(read_video_prompts / segment_video)')
        # Raises on a missing / empty video.
        source = _ShownFrames(open_video(video),
                              keep=getattr(model.data_preprocessor, 'frame_read_ahead', 1) + 1)
        video_id = source.video_id
        texts = check_texts(texts, f'video {video_id!r}')
        prompt_masks = None
        if regions is not None:
            if not 0 <= region_frame < len(source):
                raise ValueError(f'video {video_id!r}: region_frame {region_frame} is not a '
                                 f'frame of the video ({len(source)} frames)')
            shape = source.get_frames([region_frame])[0].shape[:2]
            prompt_masks = region_masks(regions, shape,
                                        f'video {video_id!r} frame {region_frame}')
        if history is not None:
            if len(texts) != 1:
                raise ValueError(f'video {video_id!r}: video chat takes one new question, '
                                 f'got {len(texts)}')
            history = check_history(history)
            prompts = chat_prompt(history, texts[0])
        else:
            prompts = build_prompts(texts, template)
        # What a video dataset item gives the test pipeline (VideoReferringDataset).
        results = dict(video_id=video_id, video_source=source, img_path=video_id,
                       frame_names=list(source.frame_names),
                       expressions=[dict(exp_id=str(i), expression=t)
                                    for i, t in enumerate(texts)])
        if prompts is not None:
            results['prompts'] = prompts
        if prompt_masks is not None:
            results['prompt_masks'] = prompt_masks
        packed = self._run_pipeline(
            self._video_transforms(num_key_frames, key_frame_strategy), results)
        batch = model.data_preprocessor(self.collate_fn([packed]), False)
        inputs, sample = batch['inputs'], batch['data_samples'][0]
        meta = sample.metainfo
        region_kwargs = {}
        if prompt_masks is not None:
            key_frames = list(meta['key_frame_ids'])
            if region_frame not in key_frames:
                raise ValueError(f'video {video_id!r}: region_frame {region_frame} is not a '
                                 f'key frame (the MLLM reads frames {key_frames}); draw the '
                                 'regions on one of them')
            region_kwargs = dict(
                prompt_masks=torch.from_numpy(prompt_masks).to(inputs['input_ids'].device),
                region_key_frame=key_frames.index(region_frame))
        with torch.no_grad():
            answer_ids, states = model.read_video_prompts(
                inputs['pixel_values'], inputs['input_ids'], inputs['attention_mask'],
                **region_kwargs)
        answers = [model.mllm.decode(a) for a in answer_ids]
        # Every [SEG] of every answer is one tracked object (answers without [SEG] track
        # nothing: their masks stay empty); `masks` keeps each answer's first.
        objects = [(i, k) for i, s in enumerate(states) for k in range(len(s))]
        first = [n for n, (_, k) in enumerate(objects) if k == 0]
        valid = [objects[n][0] for n in first]
        seg_hidden = torch.cat([s for s in states if len(s)]) if objects else \
            inputs['pixel_values'].new_zeros(0, model.mllm.hidden_size)

        num_frames, (h, w) = len(source), meta['ori_shape'][:2]
        masks = np.zeros((len(texts), num_frames, h, w), bool) if return_masks else None
        scores = np.zeros((len(texts), num_frames), np.float32)
        seg_masks = [np.zeros((len(st), num_frames, h, w), bool) for st in states] \
            if return_masks else None
        seg_scores = [np.zeros((len(st), num_frames), np.float32) for st in states]
        labels = [f'{texts[i]} [SEG {k + 1}]' if len(states[i]) > 1 else texts[i]
                  for i, k in objects]
        writer, out_file = None, None
        if out_dir:
            from desa2va_mm.visualization.video_overlay import VideoWriter
            os.makedirs(out_dir, exist_ok=True)
            out_file = osp.join(out_dir, f'{video_id}.mp4')
            writer = VideoWriter(out_file, fps=fps)
        bar = None
        if self.show_progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(num_frames)
        try:
            (stream, ) = inputs['video_frames']
            for out in model.segment_video(stream, seg_hidden, meta['key_frame_ids'],
                                           num_frames=stream.num_frames, ori_shape=(h, w)):
                t = out['frame_idx']
                object_masks, object_scores = out['masks'].numpy(), out['scores'].numpy()
                frame_masks = np.zeros((len(texts), h, w), bool)
                frame_masks[valid] = object_masks[first]
                scores[valid, t] = object_scores[first]
                for n, (i, k) in enumerate(objects):
                    seg_scores[i][k, t] = object_scores[n]
                    if seg_masks is not None:
                        seg_masks[i][k, t] = object_masks[n]
                if masks is not None:
                    masks[:, t] = frame_masks
                if writer is not None or (save_frames and out_dir):
                    # One colour per tracked object ([SEG]), in answer order.
                    self._write_frame(source.shown(t), object_masks, labels,
                                      [answers[i] for i, _ in objects], out, video_id,
                                      writer, out_dir if save_frames else '')
                if bar is not None:
                    bar.update()
        finally:
            if writer is not None:
                writer.close()
            source.close()
        result = dict(video_id=video_id, frame_names=list(source.frame_names),
                      key_frame_ids=list(meta['key_frame_ids']), texts=texts,
                      answers=answers, masks=masks, scores=scores, seg_masks=seg_masks,
                      seg_scores=seg_scores, out_file=out_file)
        if history is not None:
            result['history'] = history + [dict(user=texts[0].strip(), assistant=answers[0])]
        return result

    @staticmethod
    def _write_frame(frame_bgr: np.ndarray, masks: np.ndarray, texts: List[str],
                     answers: List[str], out: dict, video_id: str, writer,
                     frames_dir: str) -> None:
        """Draw one frame's (E, H, W) masks with the legend; write it to the MP4 and, with
        ``frames_dir``, as ``<frames_dir>/<video>/<frame>.png``."""
        import mmcv

        from desa2va_mm.visualization.video_overlay import draw_masks
        key = ' (key frame)' if out['is_key_frame'] else ''
        canvas = draw_masks(frame_bgr[..., ::-1], masks, texts, answers,
                            header=f'{video_id} frame {out["frame_name"]}{key}')
        if writer is not None:
            writer.write(canvas)
        if frames_dir:
            mmcv.imwrite(canvas[..., ::-1],
                         osp.join(frames_dir, video_id, f'{out["frame_name"]}.png'))
