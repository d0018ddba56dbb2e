"""``DeSa2VAInferencer``: segment images (and videos) from expressions or questions."""
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

from desa2va_mm.datasets.transforms.tokenize_conversation import (TokenizeConversation,
                                                                  adopt_model_tokenizer)
from desa2va_mm.registry import TRANSFORMS

ImageType = Union[str, np.ndarray]
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v')

#: Transforms of a test pipeline that read a dataset (files, annotations, targets); the
#: inferencer replaces them with its own loading of user inputs.
DATASET_TRANSFORMS = ('LoadImageFromFile', 'LoadAnnotations', 'SampleReferringTargets',
                      'InferencerLoader', 'LoadImageFromNDArray')
#: Use the pipeline's question template (``BuildReferringConversation``) for expressions.
PIPELINE_TEMPLATE = 'pipeline'
#: Question of video expressions (Sa2VA's image question with "video").
VIDEO_TEMPLATE = 'Please segment {expression} in this video.'


def _type_name(cfg: dict) -> str:
    name = cfg.get('type', '')
    name = name if isinstance(name, str) else getattr(name, '__name__', '')
    return name.split('.')[-1]


def list_images(folder: str) -> List[str]:
    """Image files of ``folder`` (not recursive), sorted by name."""
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    return [osp.join(folder, f) for f in names]


def load_image(image: ImageType, index: int = 0) -> Tuple[np.ndarray, Optional[str]]:
    """Read one input image as a BGR uint8 (H, W, 3) array.

    Args:
        image: A path or an (H, W, 3) BGR / (H, W) grey uint8 array.
        index: Position of the input (named in errors about arrays).

    Returns:
        ``(image, path)``; ``path`` is None for arrays.

    Raises:
        FileNotFoundError: The path does not exist.
        ValueError: The file is not a readable image, or the array has a wrong shape /
            dtype.
    """
    import mmcv
    if isinstance(image, str):
        if not osp.isfile(image):
            raise FileNotFoundError(f'image {image!r} does not exist')
        img = mmcv.imread(image, flag='color')
        if img is None or img.size == 0:
            raise ValueError(f'cannot read image {image!r}: not an image file or corrupt')
        return img, image
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) == 0:
            raise ValueError(f'input {index}: expected an (H, W, 3) BGR or (H, W) image array, '
                             f'got shape {image.shape}')
        if image.dtype != np.uint8:
            raise ValueError(f'input {index}: expected a uint8 image array, got {image.dtype}')
        return np.ascontiguousarray(image), None
    raise TypeError(f'input {index}: expected an image path or a numpy array, got '
                    f'{type(image).__name__}')


def check_texts(texts: Sequence[str], where: str) -> List[str]:
    """Every text must be a non-empty string; returns them as a list."""
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError(f'{where}: no expression or question given')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f'{where}: text {i} must be a str, got {type(text).__name__}')
        if not text.strip():
            raise ValueError(f'{where}: text {i} is empty')
    return texts


def default_test_pipeline(model) -> List[dict]:
    """Sa2VA's image test pipeline for a built model (used for exported folders).

    InternVL dynamic tiling (1-12 tiles + thumbnail) at the vision tower's size, SAM-2
    resize, the segmentation question, ChatML tokens; the prompt budget is the LLM's context
    minus the answer budget.
    """
    vision = model.mllm.config.vision_config
    tile = vision.image_size[0] if isinstance(vision.image_size, (list, tuple)) \
        else vision.image_size
    size = model.grounding_encoder.image_size
    context = getattr(model.mllm.config.text_config, 'max_position_embeddings', 8192)
    return [
        dict(type='InternVLTiling', tile_size=int(tile), min_tiles=1, max_tiles=12,
             use_thumbnail=True),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='BuildReferringConversation', mode='test'),
        dict(type='TokenizeConversation', tokenizer=None, template=None,
             num_image_tokens_per_tile=model.mllm.num_image_tokens_per_tile,
             max_length=int(context) - int(model.max_new_tokens)),
        dict(type='PackReferringInputs'),
    ]


class DeSa2VAInferencer(BaseInferencer):
    """Referring segmentation, answers and chat with a DeSa2VA / Sa2VA model.

    In the style of mmdet's ``DetInferencer``: built from a config (path, ``Config`` or
    dict) and a checkpoint; ``__call__`` takes images and expressions and returns one dict
    per image. The model's ``predict`` encodes each image once with SAM-2 and once with
    the InternVL vision tower, and every expression of the image is one sequence in a
    single batched generation reading those features; ``batch_size`` images go through the
    model together.

    Example::

        inferencer = DeSa2VAInferencer('configs/sa2va_tiny.py', 'iter_3000.pth', device='cpu')
        result = inferencer('demo.jpg', texts=['the red circle', 'the leftmost shape'])
        result['predictions'][0]['masks']     # (2, H, W) bool at the image's resolution
        result['predictions'][0]['answers']   # ['It is [SEG].', ...]
        reply = inferencer.chat('demo.jpg', 'Please segment the red circle.')
        reply = inferencer.chat('demo.jpg', 'And the blue square?', history=reply['history'])

    Args:
        model: Config path, ``Config`` or dict with ``model`` and ``test_dataloader``
            (its test pipeline is reused without the dataset-reading steps), or a folder
            exported by ``tools/model_converters/desa2va_to_hf.py``.
        weights: Checkpoint (``.pth``, loaded with ``weights_only=True``) or None for
            random weights (with a warning); None with an exported folder.
        device: ``'cpu'``, ``'cuda:0'``...; None picks the available device.
        scope: Registry scope (default ``'desa2va_mm'``).
        show_progress: Show a progress bar over batches.
        max_new_tokens: Override the model's generation budget per answer.
        pipeline_config: With an exported folder as ``model``: a config (path or
            ``Config``) whose test pipeline to use (the one the model was trained with);
            None derives Sa2VA's image pipeline from the model (:func:`default_test_pipeline`).
    """

    preprocess_kwargs: set = {'texts', 'template'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {'return_vis', 'show', 'wait_time', 'no_save_vis', 'out_dir'}
    postprocess_kwargs: set = {'print_result', 'no_save_pred', 'return_datasamples'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: str = 'desa2va_mm',
                 show_progress: bool = True,
                 max_new_tokens: Optional[int] = None,
                 pipeline_config: Optional[Union[str, Config]] = None) -> None:
        from desa2va_mm.utils import register_all_modules
        register_all_modules()  # our modules, mmdet's and the checkpoint allow-list
        init_default_scope(scope)
        self._export_dir = None
        if isinstance(model, str) and osp.isdir(model):
            # An exported folder (tools/model_converters/desa2va_to_hf.py): weights and
            # model config come from it; the test pipeline from ``pipeline_config`` or,
            # without one, from the model itself (see :func:`default_test_pipeline`).
            if weights is not None:
                raise ValueError('an exported folder holds its weights: pass weights=None')
            self._export_dir = model
            model = Config.fromfile(pipeline_config) if isinstance(pipeline_config, str) \
                else copy.deepcopy(pipeline_config) if pipeline_config is not None \
                else Config(dict(visualizer=dict(type='ReferringSegVisualizer')))
        elif isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f'config {model!r} does not exist')
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f'checkpoint {weights!r} does not exist')
        self.show_progress = show_progress
        super().__init__(model=model, weights=weights, device=device, scope=scope)
        if max_new_tokens is not None:
            self.model.max_new_tokens = max_new_tokens
        self._check_context()
        self.num_visualized = 0

    # ------------------------------------------------------------------ set-up
    def _init_model(self, cfg, weights, device='cpu'):
        if self._export_dir is None:
            return super()._init_model(cfg, weights, device)
        from desa2va_mm.utils.hf_export import load_desa2va_export
        return load_desa2va_export(self._export_dir, device=device or 'cpu')

    def _init_pipeline(self, cfg: Config) -> List[Any]:
        """The config's test pipeline without the steps that read a dataset."""
        if self._export_dir is not None and 'test_dataloader' not in cfg:
            pipeline_cfg = default_test_pipeline(self.model)
        else:
            try:
                dataset = cfg.test_dataloader.dataset
                # Multi-split test sets (RefCOCO val / testA / testB) share one pipeline:
                # use the first member's.
                while 'pipeline' not in dataset and dataset.get('datasets'):
                    dataset = dataset['datasets'][0]
                while 'pipeline' not in dataset and dataset.get('dataset'):
                    dataset = dataset['dataset']
                pipeline_cfg = dataset.pipeline
            except AttributeError as err:
                raise ValueError('the config needs test_dataloader.dataset.pipeline (or a '
                                 'ConcatDataset of datasets with one; the inferencer reuses '
                                 'its test-time transforms)') from err
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
                # The model's tokenizer and chat template (or a check of the pipeline's own).
                adopt_model_tokenizer(transform, self.model.mllm.tokenizer,
                                      self.model.mllm.chat_template,
                                      'test_dataloader.dataset.pipeline (inferencer)')
            transforms.append(transform)
        names = [type(t).__name__ for t in transforms]
        for needed in ('BuildReferringConversation', 'TokenizeConversation',
                       'PackReferringInputs'):
            if needed not in names:
                raise ValueError(f'the test pipeline has no {needed}; the inferencer needs '
                                 f'it (pipeline: {names})')
        self._conversation = transforms[names.index('BuildReferringConversation')]
        self._tokenize = transforms[names.index('TokenizeConversation')]
        return transforms

    def _check_context(self) -> None:
        """Keep prompt + answer inside the LLM's context (prompts are shortened, with a
        warning, by ``TokenizeConversation``; see docs/inference.md)."""
        text_config = self.model.mllm.config.text_config
        context = getattr(text_config, 'max_position_embeddings', None)
        budget = int(self.model.max_new_tokens)
        if context is not None and self._tokenize.max_length + budget > context:
            self._tokenize.max_length = context - budget
        self.max_prompt_length = self._tokenize.max_length

    def _init_collate(self, cfg):
        return pseudo_collate

    # ------------------------------------------------------------------ inputs
    def _inputs_to_list(self, inputs) -> list:
        if isinstance(inputs, str) and osp.isdir(inputs):
            images = list_images(inputs)
            if not images:
                raise ValueError(f'folder {inputs!r} holds no image '
                                 f'({", ".join(IMAGE_EXTENSIONS)})')
            return images
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

    def _results(self, image: ImageType, index: int, texts: List[str]) -> dict:
        img, path = load_image(image, index)
        h, w = img.shape[:2]
        return dict(img=img, img_path=path if path else f'input_{index}', img_id=index,
                    ori_shape=(h, w), img_shape=(h, w), text=list(texts))

    def _run_pipeline(self, results: dict) -> dict:
        for transform in self.pipeline:
            if transform is self._conversation and 'prompts' in results:
                continue  # prompts written by the caller (verbatim questions, chat)
            results = transform(results)
        return results

    def _prompts(self, texts: List[str], template: Optional[str]) -> Optional[list]:
        """Single-turn prompts, or None to let the pipeline template the expressions."""
        from desa2va_mm.datasets.transforms import IMAGE_PLACEHOLDER
        if template == PIPELINE_TEMPLATE:
            return None
        if template is None:
            return [[dict(user=f'{IMAGE_PLACEHOLDER}\n{t.strip()}', assistant=None)]
                    for t in texts]
        if '{expression}' not in template:
            raise ValueError(f'template must contain {{expression}}, got {template!r}')
        return [[dict(user=f'{IMAGE_PLACEHOLDER}\n' +
                      template.format(expression=' '.join(t.split())), assistant=None)]
                for t in texts]

    def preprocess(self, inputs: list, batch_size: int = 1, texts=None,
                   template: Optional[str] = PIPELINE_TEMPLATE, **kwargs):
        """Load the images and run the test pipeline; yields collated batches.

        Args:
            inputs: Images (paths or BGR arrays).
            batch_size: Images per model call.
            texts: Expressions (see :meth:`__call__`).
            template: ``'pipeline'``: each text is an expression put in the pipeline's
                question template (``'Please segment {expression} in this image.'``, what
                the model was trained on); None: each text is a question used verbatim;
                or a template with ``{expression}``.
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        per_input = self._texts_per_input(texts, len(inputs))
        chunk = []
        for i, (image, image_texts) in enumerate(zip(inputs, per_input)):
            results = self._results(image, i, image_texts)
            prompts = self._prompts(image_texts, template)
            if prompts is not None:
                results['prompts'] = prompts
            chunk.append(self._run_pipeline(results))
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
                 return_datasamples: bool = False) -> dict:
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
                ``no_save_pred``, ``preds/<name>.json`` (answers, scores, RLE masks).
            no_save_vis: Do not write overlays.
            no_save_pred: Do not write prediction files.
            print_result: Print each prediction's answers and scores.
            return_datasamples: Return the model's ``DetDataSample``s instead of dicts.

        Returns:
            dict: ``predictions``: per image a dict with ``img_path``, ``texts``,
            ``answers``, ``masks`` ((N, H, W) bool array at the image's resolution, one
            per text, empty when the answer has no ``[SEG]``) and ``scores`` (N predicted
            IoUs); ``visualization``: list of RGB arrays (or None).
        """
        ori_inputs = self._inputs_to_list(inputs)
        preds = []
        batches = self.preprocess(ori_inputs, batch_size=batch_size, texts=texts,
                                  template=template)
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

    def render(self, image_bgr: np.ndarray, sample) -> np.ndarray:
        """Overlay of one prediction: one row per text with its mask, text and answer."""
        pred = sample.pred_instances
        return self.visualizer.render(image_bgr[..., ::-1], list(sample.metainfo['text']),
                                      None, pred.masks.cpu().numpy(),
                                      sample.metainfo.get('pred_answers'),
                                      pred.scores.cpu().numpy())

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
        """One ``DetDataSample`` -> plain dict (masks as a bool numpy array)."""
        pred = sample.pred_instances
        return dict(img_path=sample.metainfo.get('img_path'),
                    texts=list(sample.metainfo.get('text', [])),
                    answers=list(sample.metainfo.get('pred_answers', [])),
                    masks=pred.masks.cpu().numpy().astype(bool),
                    scores=[float(s) for s in pred.scores.cpu()])

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
                rles = []
                for m in r['masks']:
                    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                    rles.append(dict(size=[int(s) for s in rle['size']],
                                     counts=rle['counts'].decode()))
                record = dict(img_path=r['img_path'], texts=r['texts'], answers=r['answers'],
                              scores=r['scores'], masks=rles)
                # temp file + rename: an interrupted run leaves no half-written JSON
                from desa2va_mm.utils.atomic_io import atomic_open
                with atomic_open(osp.join(pred_out_dir, f'{self._name(sample, i)}.json')) as f:
                    json.dump(record, f, indent=1)
        return dict(predictions=preds if return_datasamples else results,
                    visualization=visualization)

    # ------------------------------------------------------------------ chat
    @staticmethod
    def _check_history(history: List[Dict[str, str]]) -> List[Dict[str, str]]:
        history = [dict(turn) for turn in history]
        for i, turn in enumerate(history):
            if set(turn) != {'user', 'assistant'} or not isinstance(turn['assistant'], str):
                raise ValueError(f"chat history turn {i} must be {{'user': str, "
                                 f"'assistant': str}}, got {turn!r}")
        return history

    def chat(self, image: ImageType, question: str,
             history: Optional[List[Dict[str, str]]] = None,
             return_vis: bool = False) -> dict:
        """One turn of a multi-turn conversation about one image.

        The whole conversation (the image, every earlier question and the model's own
        answers) is the prompt of the new turn; ``[SEG]`` tokens of earlier answers stay in
        it as tokens.

        Args:
            image: Image path or BGR array (the same one every turn).
            question: The new user turn, used verbatim (e.g. ``'Please segment the red
                circle.'`` or ``'What is the largest shape?'``).
            history: ``[{'user': ..., 'assistant': ...}, ...]`` of earlier turns (the
                ``history`` this method returned last time), or None to start.
            return_vis: Also return the overlay (RGB array) under ``'visualization'``.

        Returns:
            dict: ``answer`` (str), ``mask`` ((H, W) bool: the answer's first ``[SEG]``,
            empty without one), ``score`` (predicted IoU), ``history`` (with this turn).
        """
        from desa2va_mm.datasets.transforms import IMAGE_PLACEHOLDER
        question = check_texts([question], 'chat')[0]
        history = self._check_history(history or [])
        turns = history + [dict(user=question, assistant=None)]
        turns[0] = dict(turns[0], user=f'{IMAGE_PLACEHOLDER}\n{turns[0]["user"]}')
        results = self._results(image, 0, [question])
        results['prompts'] = [turns]
        data = self.collate_fn([self._run_pipeline(results)])
        sample = self.forward(data)[0]
        answer = sample.metainfo['pred_answers'][0]
        out = dict(answer=answer, mask=sample.pred_instances.masks[0].cpu().numpy(),
                   score=float(sample.pred_instances.scores[0]),
                   history=history + [dict(user=question, assistant=answer)])
        if return_vis:
            out['visualization'] = self.render(load_image(image)[0], sample)
        return out

    # ------------------------------------------------------------------ video
    def predict_video(self,
                      video,
                      texts,
                      num_key_frames: int = 5,
                      key_frame_strategy: str = 'first',
                      template: Optional[str] = VIDEO_TEMPLATE,
                      out_dir: str = '',
                      fps: float = 10.0,
                      save_frames: bool = False,
                      return_masks: bool = True,
                      history: Optional[List[Dict[str, str]]] = None) -> dict:
        """Segment expressions through a video: key frames to the MLLM, SAM-2 tracks.

        Goes through the model's video API (``read_video_prompts`` then the streaming
        ``segment_video``, see ``VideoSegmentationMixin``): the key frames (one InternVL
        tile each) and every expression's prompt give one ``[SEG]`` state per expression;
        key frames are decoded from it and the other frames are tracked by SAM-2 memory,
        one frame in memory at a time.

        Args:
            video: An mp4 (or other PyAV-readable file), a folder of frames, a list of frame
                paths or of BGR arrays, or a (T, H, W, 3) BGR array.
            texts: One expression or a list.
            num_key_frames: Frames the MLLM reads (Sa2VA: 5).
            key_frame_strategy: ``'first'`` (Sa2VA) or ``'uniform'``.
            template: Question with ``{expression}``, or None to use texts verbatim.
            out_dir: Write ``<video>.mp4`` (every expression's mask on every frame, with
                the expressions and answers drawn) and, with ``save_frames``,
                ``<video>/<frame>.png``.
            fps: Frame rate of the written MP4.
            save_frames: Also write one PNG per frame.
            history: Multi-turn chat about the video: earlier ``{'user', 'assistant'}``
                turns (the ``history`` returned last time); ``texts`` is then the one new
                question (used verbatim, ``template`` ignored) and the result has
                ``history`` with this turn appended.
            return_masks: Return the (E, T, H, W) masks (set False for long videos: the
                files are still written while streaming).

        Returns:
            dict: ``video_id``, ``frame_names``, ``key_frame_ids``, ``texts``, ``answers``,
            ``masks`` ((E, T, H, W) bool or None), ``scores`` ((E, T) predicted IoU),
            ``out_file`` (the MP4 or None).
        """
        from desa2va_mm.datasets.video_io import open_frame_source
        from desa2va_mm.models.data_preprocessors.referring_data_preprocessor import \
            pad_sequences
        model = self.model
        if not (hasattr(model, 'read_video_prompts') and hasattr(model, 'segment_video')):
            raise NotImplementedError(f'{type(model).__name__} has no video path '
                                      '(read_video_prompts / segment_video)')
        from desa2va_mm.models.segmentors.video_segmentation_mixin import key_frame_indices
        source = open_frame_source(video)  # raises on a missing / empty / corrupt video
        video_id = source.video_id
        texts = check_texts(texts, f'video {video_id!r}')
        num_frames = len(source)
        keys = key_frame_indices(num_frames, num_key_frames, key_frame_strategy)
        key_frames = source.get_frames(keys)

        # One tile per key frame (InternVL video input), the pipeline's tile size / norm.
        tiling = [t for t in self.pipeline if type(t).__name__ == 'InternVLTiling']
        if not tiling:
            raise ValueError('the test pipeline has no InternVLTiling')
        tile = copy.copy(tiling[0])
        tile.min_tiles = tile.max_tiles = 1
        tile.use_thumbnail = False
        pixel_values = torch.cat([tile.transform(dict(img=f))['pixel_values']
                                  for f in key_frames])
        from desa2va_mm.datasets.transforms import IMAGE_PLACEHOLDER
        if template is not None and '{expression}' not in template:
            raise ValueError(f'template must contain {{expression}}, got {template!r}')
        users = [template.format(expression=' '.join(t.split())) if template else t.strip()
                 for t in texts]
        prompts = [[dict(user=f'{IMAGE_PLACEHOLDER}\n{u}', assistant=None)] for u in users]
        if history is not None:
            if len(texts) != 1:
                raise ValueError(f'video chat takes one new question, got {len(texts)}')
            history = self._check_history(history)
            turns = history + [dict(user=texts[0].strip(), assistant=None)]
            turns[0] = dict(turns[0], user=f'{IMAGE_PLACEHOLDER}\n{turns[0]["user"]}')
            prompts = [turns]
        tokens = self._tokenize(dict(num_tiles=len(keys), img_path=video_id, text=texts,
                                     prompts=prompts))
        pad_id = model.mllm.tokenizer.pad_token_id
        device = next(model.parameters()).device
        input_ids = pad_sequences(tokens['input_ids'], pad_id, 'left').to(device)
        attention_mask = pad_sequences([torch.ones_like(s) for s in tokens['input_ids']], 0,
                                       'left').to(device)
        with torch.no_grad():
            answer_ids, states = model.read_video_prompts(pixel_values.to(device), input_ids,
                                                          attention_mask)
        answers = [model.mllm.decode(a) for a in answer_ids]
        valid = [i for i, s in enumerate(states) if s is not None]
        seg_hidden = torch.stack([states[i] for i in valid]) if valid else \
            pixel_values.new_zeros(0, model.mllm.hidden_size).to(device)

        current = {}

        def frames():
            for frame in source:
                current['frame'] = frame
                yield frame

        h, w = key_frames[0].shape[:2]
        masks = np.zeros((len(texts), num_frames, h, w), bool) if return_masks else None
        scores = np.zeros((len(texts), num_frames), np.float32)
        out_file, writer = None, None
        if out_dir:
            from desa2va_mm.visualization.video_overlay import VideoWriter
            os.makedirs(out_dir, exist_ok=True)
            out_file = osp.join(out_dir, f'{video_id}.mp4')
            writer = VideoWriter(out_file, fps=fps)
        bar = None
        if self.show_progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(num_frames)
        import mmcv
        from desa2va_mm.visualization.video_overlay import draw_masks
        try:
            with torch.no_grad():
                stream = model.segment_video(frames(), seg_hidden, keys, num_frames=num_frames,
                                             video_id=video_id,
                                             frame_names=source.frame_names)
                for out in stream:
                    t = out['frame_idx']
                    frame_masks = np.zeros((len(texts), ) + current['frame'].shape[:2], bool)
                    for j, i in enumerate(valid):
                        frame_masks[i] = out['masks'][j].numpy()
                        scores[i, t] = float(out['scores'][j])
                    if masks is not None:
                        if frame_masks.shape[1:] != (h, w):
                            raise ValueError(f'video {video_id!r}: frame {t} is '
                                             f'{frame_masks.shape[1:]}, frame 0 was {(h, w)}')
                        masks[:, t] = frame_masks
                    if writer is not None or save_frames and out_dir:
                        key = ' (key frame)' if out['is_key_frame'] else ''
                        canvas = draw_masks(current['frame'][..., ::-1], frame_masks, texts,
                                            answers, header=f'{video_id} frame '
                                            f'{out["frame_name"]}{key}')
                        if writer is not None:
                            writer.write(canvas)
                        if save_frames and out_dir:
                            mmcv.imwrite(canvas[..., ::-1], osp.join(
                                out_dir, video_id, f'{out["frame_name"]}.png'))
                    if bar is not None:
                        bar.update()
        finally:
            if writer is not None:
                writer.close()
            source.close()
        result = dict(video_id=video_id, frame_names=list(source.frame_names),
                      key_frame_ids=list(keys), texts=texts, answers=answers, masks=masks,
                      scores=scores, out_file=out_file)
        if history is not None:
            result['history'] = history + [dict(user=texts[0].strip(), assistant=answers[0])]
        return result
