"""The DeSa2VA model: InternVL reads, its [SEG] states prompt SAM-2 through a seg head."""
import contextlib
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from desa2va_mm.registry import MODELS
from desa2va_mm.structures import encode_mask, encode_masks
from desa2va_mm.utils.checkpoint_safety import warn_if_unguarded
from desa2va_mm.utils.pretrained_sources import raise_on_frozen_weights_without_source
from desa2va_mm.utils.state_dict_check import raise_on_shape_mismatch
from ..builder import build_in_scope
from ..data_preprocessors.frame_stream import FrameStream
from ..utils.visual_prompts import image_and_region_tokens
from ..seg_heads.seg_decode_result import SegDecodeResult
from .checkpoint_layout import upgrade_on_load

PHASES = ('pretrain', 'decouple', 'fusion')
VIDEO_TRAIN_MODES = ('per_frame', 'memory')
MASK_RESIZE_MODES = ('via_sam_input', 'direct')
PREDICT_AUTOCAST_DTYPES = ('bfloat16', 'float16')


@MODELS.register_module()
class DeSa2VA(BaseModel):
    """Referring segmentation of images and videos with an MLLM and SAM-2 (docs/method.md).

    Parts, in the order data flows through them:

    * ``grounding_encoder`` (``SAM2Grounding``): SAM-2 encodes each image (video frame)
      once and provides the prompt embeddings;
    * ``mllm`` (``InternVLMLLM``): reads the InternVL tiles and the conversation; the
      last-layer state ``h`` at each ``[SEG]`` is the segmentation query;
    * ``seg_head``: ``h`` -> SAM-2 prompts -> masks, and the mask / prompt losses.
      ``Sa2VASegHead`` is the Sa2VA baseline, ``DecoupledSegHead`` is DeSa2VA (decoupled
      prompts, two decoders, fusion, re-prompting, adversarial and CLUB losses);
    * ``video_tracker`` (``SAM2VideoTracker``): on video, key frames are decoded by the
      seg head and the other frames tracked through SAM-2's memory.

    ``train_phase`` (docs/method.md §11): ``'pretrain'`` (phase 1: the text decoder learns
    from the ground-truth expressions' text anchors, ``L_seg(D_t(F, [pad; e]), G)``; no LLM
    forward beyond the embedding lookup; needs a ``DecoupledSegHead``), ``'decouple'``
    (phase 2) or ``'fusion'`` (phase 3; what differs from phase 2 is re-prompting in
    training, ``train_cfg.reprompt_iters``). Which parameters train is set by the
    parts' own ``freeze`` flags and ``frozen_modules``.

    ``train_cfg`` / ``test_cfg`` (mmdet's convention) hold the settings that differ
    between training and evaluation; the model hands them to the seg head, which owns
    their meaning and checks their keys, and ``train()`` / ``eval()`` pick which applies
    (validation and test both run in eval mode). ``DecoupledSegHead`` reads
    ``reprompt_iters`` from both and ``reprompt_iou_threshold`` from ``test_cfg``
    (docs/method.md §6); ``Sa2VASegHead`` reads none.

    Images and videos train in one batch (an image is a 1-frame video,
    ``VideoReferringDataPreprocessor``); one checkpoint serves both. Prediction returns one
    ``DetDataSample`` per image with ``pred_instances`` holding one mask per ``[SEG]`` of
    the answers at the original resolution (an answer without ``[SEG]``: one empty mask),
    ``scores`` and ``sentence_idx`` (the sentence each mask answers), and ``pred_answers``;
    per video, ``pred_rles`` (E lists of T COCO RLEs) and ``pred_answers`` in the metainfo
    (:meth:`predict`). Masks come from the low-res logits as Sa2VA makes them
    (``mask_resize``), and prediction may run under autocast (``predict_autocast``).

    Public video API (also used without a data pipeline, e.g. by an inferencer):
    :meth:`read_video_prompts` (answers and ``[SEG]`` states over key frames) and
    :meth:`segment_video` (streamed masks of every frame).

    Args:
        mllm: ``InternVLMLLM`` config.
        grounding_encoder: ``SAM2Grounding`` config.
        seg_head: ``DecoupledSegHead`` or ``Sa2VASegHead`` config (``in_channels`` and
            ``decoder_kwargs`` are filled from the MLLM and SAM-2, ``train_cfg`` /
            ``test_cfg`` from this model's).
        train_cfg: Training settings of the seg head, e.g. ``dict(reprompt_iters=1)``
            (phase 3); None: the head's defaults.
        test_cfg: Validation / test settings of the seg head, e.g.
            ``dict(reprompt_iters=1, reprompt_iou_threshold=None)``; None: the head's
            defaults.
        loss_lm_weight: Weight of the language-model loss.
        train_phase: ``'pretrain'``, ``'decouple'`` or ``'fusion'``.
        frozen_modules: Attribute paths frozen on top of the parts' own flags, e.g.
            ``['seg_head.text_head', 'seg_head.neck.anchor_proj']`` in phase 2.
        init_head_from_sam2: Copy SAM-2's decoder into every SAM-2 decoder of the seg head.
        max_new_tokens: Generation budget per sentence at test.
        mask_threshold: Logit threshold of the output masks.
        mask_resize: How low-res logits (N, 1, h', w') become masks at the original size:
            ``'via_sam_input'`` (Sa2VA: bilinear to the SAM-2 input size, then bilinear to
            the original size, then thresholded) or ``'direct'`` (one bilinear resize to
            the original size). The two agree when the original size is SAM-2's.
        predict_autocast: ``'bfloat16'`` or ``'float16'``: :meth:`predict`,
            :meth:`read_video_prompts` and :meth:`segment_video` run under
            ``torch.autocast('cuda', dtype)`` on a CUDA device that supports the dtype
            (Sa2VA runs inference in bf16); on the CPU only with
            ``predict_autocast_cpu``; anywhere else, and with None, in float32.
            Masks are resized and thresholded in float32 either way.
        predict_autocast_cpu: Also autocast on the CPU (``torch.autocast('cpu', dtype)``,
            bf16 or fp16). Off by default: a config's ``predict_autocast`` is the GPU
            inference precision and a CPU test of the same config stays float32;
            ``DeSa2VAInferencer(dtype=...)`` turns it on when asked for a dtype.
        data_preprocessor: ``ReferringDataPreprocessor`` config
            (``VideoReferringDataPreprocessor`` for video data).
        video_tracker: ``SAM2VideoTracker`` config.
        video_train: Video training, ``dict(mode='per_frame' | 'memory',
            track_loss_weight=1.0)``: ``'per_frame'`` (Sa2VA) decodes every sampled frame
            as an image; ``'memory'`` decodes frame 0 as the key frame and tracks frames
            1..T-1 through SAM-2's memory (``loss_mask_track``), docs/method.md §12.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 *,
                 mllm: dict,
                 grounding_encoder: dict,
                 seg_head: dict,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 loss_lm_weight: float = 1.0,
                 train_phase: str = 'decouple',
                 frozen_modules: Sequence[str] = (),
                 init_head_from_sam2: bool = True,
                 max_new_tokens: int = 16,
                 mask_threshold: float = 0.0,
                 mask_resize: str = 'via_sam_input',
                 predict_autocast: Optional[str] = None,
                 predict_autocast_cpu: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 video_tracker: Optional[dict] = None,
                 video_train: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ReferringDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here, not by BaseModel, which would look in mmengine's root registry
            # when no default scope is set.
            data_preprocessor = build_in_scope(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if train_phase not in PHASES:
            raise ValueError(f'train_phase must be one of {PHASES}, got {train_phase!r} (the '
                             "tiny click pre-training is its own model, SAM2ClickPretrainer: "
                             'configs/*/*_tiny_sam_pretrain.py)')
        self.mllm = build_in_scope(mllm)
        self.grounding_encoder = build_in_scope(grounding_encoder)
        self.data_preprocessor.pad_token_id = self.mllm.tokenizer.pad_token_id
        if getattr(self.data_preprocessor, 'frame_size', 0) is None:
            self.data_preprocessor.frame_size = self.grounding_encoder.image_size

        seg_head = dict(seg_head)
        for kind in ('train_cfg', 'test_cfg'):
            if kind in seg_head:
                raise ValueError(f'model.seg_head.{kind}: the seg head gets its settings '
                                 f'from the model; set model.{kind} instead')
        seg_head.update(train_cfg=train_cfg, test_cfg=test_cfg)
        seg_head.setdefault('in_channels', self.mllm.hidden_size)
        seg_head.setdefault('decoder_kwargs', self.grounding_encoder.mask_decoder_kwargs())
        self.seg_head = build_in_scope(seg_head)
        if init_head_from_sam2:
            self.seg_head.init_from_decoder(self.grounding_encoder.mask_decoder)
        if train_phase == 'pretrain' and not hasattr(self.seg_head, 'decode_anchor'):
            raise ValueError("train_phase='pretrain' pre-trains the text decoder on text "
                             'anchors: it needs seg_head=dict(type=\'DecoupledSegHead\'), got '
                             f'{type(self.seg_head).__name__}')

        tracker = dict(type='SAM2VideoTracker')
        tracker.update(video_tracker or {})
        self.video_tracker = build_in_scope(tracker).bind(self.grounding_encoder)
        video_train = {'mode': 'per_frame', 'track_loss_weight': 1.0, **(video_train or {})}
        unknown = set(video_train) - {'mode', 'track_loss_weight'}
        if unknown:
            raise ValueError(f'unknown video_train keys {sorted(unknown)}; options: '
                             f"['mode', 'track_loss_weight']")
        if video_train['mode'] not in VIDEO_TRAIN_MODES:
            raise ValueError(f'video_train mode must be one of {VIDEO_TRAIN_MODES}, got '
                             f"{video_train['mode']!r}")
        self.video_train = video_train

        self.loss_lm_weight = loss_lm_weight
        self.train_phase = train_phase
        self.max_new_tokens = max_new_tokens
        self.mask_threshold = mask_threshold
        if mask_resize not in MASK_RESIZE_MODES:
            raise ValueError(f'model.mask_resize must be one of {MASK_RESIZE_MODES}, got '
                             f'{mask_resize!r}')
        self.mask_resize = mask_resize
        if predict_autocast is not None and predict_autocast not in PREDICT_AUTOCAST_DTYPES:
            raise ValueError(f'model.predict_autocast must be None (float32) or one of '
                             f'{PREDICT_AUTOCAST_DTYPES}, got {predict_autocast!r}')
        self.predict_autocast = predict_autocast
        self.predict_autocast_cpu = predict_autocast_cpu
        self.frozen_modules = tuple(frozen_modules)
        for path in self.frozen_modules:
            self._module_at(path).requires_grad_(False)
        # Checkpoints of the earlier layout (heads at the top level) load as they are.
        self.register_load_state_dict_pre_hook(upgrade_on_load)
        # A mis-shaped checkpoint entry is an error naming both shapes (non-strict loads,
        # e.g. MMEngine's load_from, would only warn and keep the model's value).
        self.register_load_state_dict_pre_hook(raise_on_shape_mismatch)
        # A trainable-only checkpoint needs the frozen weights' pretrained files.
        self.register_load_state_dict_pre_hook(raise_on_frozen_weights_without_source)

    @property
    def train_cfg(self) -> dict:
        """The training settings in force (the seg head's, which completes the defaults)."""
        return self.seg_head.train_cfg

    @property
    def test_cfg(self) -> dict:
        """The validation / test settings in force (the seg head's)."""
        return self.seg_head.test_cfg

    @property
    def predict_dtype(self) -> torch.dtype:
        """The dtype :meth:`predict` computes in on the model's device: the
        ``predict_autocast`` dtype on a CUDA device that supports it (on the CPU with
        ``predict_autocast_cpu``), else float32."""
        if self.predict_autocast is None:
            return torch.float32
        device = self.data_preprocessor.device
        dtype = getattr(torch, self.predict_autocast)
        if device.type == 'cpu':
            # torch's CPU autocast runs both bf16 and fp16 kernels.
            return dtype if self.predict_autocast_cpu else torch.float32
        if device.type != 'cuda' or not torch.cuda.is_available():
            return torch.float32
        if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            return torch.float32
        return dtype

    def _predict_context(self):
        """``torch.autocast`` in :attr:`predict_dtype` on the model's device type (a
        no-op context in float32)."""
        dtype = self.predict_dtype
        if dtype is torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.data_preprocessor.device.type, dtype=dtype)

    def pretrained_sources(self) -> Dict[str, tuple]:
        """State-dict prefix -> (file the frozen weights come from or None, config key)."""
        return {'mllm.': (self.mllm.pretrained, 'model.mllm.pretrained'),
                'grounding_encoder.': (self.grounding_encoder.checkpoint,
                                       'model.grounding_encoder.checkpoint')}

    def _module_at(self, path: str) -> torch.nn.Module:
        module = self
        for part in path.split('.'):
            if not hasattr(module, part) or getattr(module, part) is None:
                raise ValueError(f'frozen_modules: {path!r} does not name a sub-module '
                                 f'(no {part!r})')
            module = getattr(module, part)
        return module

    # ------------------------------------------------------------------ entry point
    def forward(self, inputs: dict, data_samples: Optional[List[DetDataSample]] = None,
                mode: str = 'tensor'):
        """MMEngine's entry point: ``'loss'`` -> :meth:`loss`, ``'predict'`` ->
        :meth:`predict`, ``'tensor'`` -> the teacher-forced ``SegDecodeResult`` of an image
        batch's targets (no losses)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._decode_targets(inputs)[0]
        raise ValueError(f"Invalid mode {mode!r}; options: 'loss', 'predict', 'tensor'")

    # ------------------------------------------------------------------ reading
    @staticmethod
    def _image_tokens_per_sequence(image_embeds: torch.Tensor, num_tiles: Sequence[int],
                                   seq_image_idx: torch.Tensor) -> torch.Tensor:
        """Arrange per-sample tile features (T, n, H) in sequence order -> (K, H).

        Several sequences of one image (its sentences at test) reuse the same features:
        the vision tower ran once per image.
        """
        per_sample = torch.split(image_embeds, list(num_tiles))
        if len(seq_image_idx) == len(per_sample) and seq_image_idx.tolist() == list(
                range(len(per_sample))):
            return image_embeds.flatten(0, 1)
        return torch.cat([per_sample[i].flatten(0, 1) for i in seq_image_idx.tolist()])

    def _slot_features(self, inputs: dict, image_embeds: torch.Tensor) -> torch.Tensor:
        """(K, H) features of every ``<IMG_CONTEXT>`` slot in sequence order: the image
        tokens and, for samples with region prompts (``inputs['prompt_masks']``), the
        region tokens at their ``<vp>`` slots (docs/visual_prompts.md)."""
        if inputs.get('prompt_masks') is None:
            return self._image_tokens_per_sequence(image_embeds, inputs['num_tiles'],
                                                   inputs['seq_image_idx'])
        return image_and_region_tokens(
            image_embeds, inputs['num_tiles'], inputs['seq_image_idx'], inputs['input_ids'],
            inputs['attention_mask'], inputs['prompt_masks'],
            image_token_id=self.mllm.image_token_id, vp_start_id=self.mllm.vp_start_id,
            vp_end_id=self.mllm.vp_end_id, sample_names=inputs.get('sample_names'))

    def _read_seg_states(self, inputs: dict) -> Tuple[dict, torch.Tensor, torch.Tensor]:
        """Teacher-forced MLLM pass.

        Returns:
            The MLLM output (``loss_lm`` when labels are given, ``hidden_states``), the
            ``[SEG]`` states (N, H) in sequence order and the sample of each (N,).
        """
        image_embeds = self.mllm.encode_images(inputs['pixel_values'])
        mllm_out = self.mllm(
            inputs['input_ids'], inputs['attention_mask'],
            self._slot_features(inputs, image_embeds), labels=inputs.get('labels'))
        seg_mask = (inputs['input_ids'] == self.mllm.seg_token_id) & \
            inputs['attention_mask'].bool()
        seq_idx = seg_mask.nonzero()[:, 0]
        return (mllm_out, mllm_out['hidden_states'][seg_mask],
                inputs['seq_image_idx'][seq_idx])

    def _text_anchor(self, inputs: dict) -> torch.Tensor:
        """``e`` (N, C) for every target from its expression's frozen input embeddings."""
        if 'expression_ids' not in inputs:
            raise KeyError('the text anchor needs expression_ids: use TokenizeConversation '
                           'and PackReferringInputs from desa2va_mm')
        with torch.no_grad():
            embeds = self.mllm.input_embeddings()(inputs['expression_ids'])
        return self.seg_head.text_anchor(embeds.detach(), inputs['expression_mask'])

    def _lm_loss(self, mllm_out: dict) -> Dict[str, torch.Tensor]:
        if 'loss_lm' not in mllm_out:
            return {}
        return dict(loss_lm=mllm_out['loss_lm'] * self.loss_lm_weight)

    # ------------------------------------------------------------------ targets
    @staticmethod
    def _gt_masks(data_samples: List[DetDataSample], image_idx: torch.Tensor,
                  device) -> torch.Tensor:
        """(N, H, W) float masks of N targets sorted by sample; counts checked per sample."""
        counts = torch.bincount(image_idx, minlength=len(data_samples)).tolist()
        masks = []
        for i, sample in enumerate(data_samples):
            gt = sample.gt_instances.masks
            if len(gt) != counts[i]:
                raise ValueError(
                    f"{sample.metainfo.get('img_path', f'sample {i}')}: {len(gt)} target "
                    f'masks but {counts[i]} [SEG] tokens in its conversation')
            masks.append(gt.to_tensor(torch.float32, device))
        return torch.cat(masks)

    @staticmethod
    def _video_gt(data_samples: List[DetDataSample], counts: Sequence[int],
                  frames_of: Sequence[torch.Tensor], device, what: str) -> List[torch.Tensor]:
        """Per sample, its targets' masks on its frames, (n, T, H, W) float."""
        gts = []
        for b, sample in enumerate(data_samples):
            gt = sample.gt_instances.masks.to_tensor(torch.float32, device)
            num_t = len(frames_of[b])
            if len(gt) != counts[b] * num_t:
                raise ValueError(
                    f"{sample.metainfo.get('video_id', sample.metainfo.get('img_path', b))}: "
                    f'{len(gt)} target masks but {counts[b]} {what} x {num_t} frames')
            gts.append(gt.view(counts[b], num_t, *gt.shape[-2:]))
        return gts

    @staticmethod
    def _frames_of(inputs: dict, num_samples: int) -> List[torch.Tensor]:
        """Rows of ``images`` that are each sample's frames (an image: one row)."""
        frame_sample_idx = inputs['frame_sample_idx']
        return [torch.nonzero(frame_sample_idx == b)[:, 0] for b in range(num_samples)]

    # ------------------------------------------------------------------ decoding targets
    def _decode_targets(self, inputs: dict, data_samples: Optional[list] = None
                        ) -> Tuple[SegDecodeResult, Optional[torch.Tensor], dict]:
        """Decode every target of a batch decoded frame by frame as images.

        Phases 2-3: the ``[SEG]`` states of a teacher-forced MLLM pass (image batches).
        Phase 1: the text anchors of the ground-truth expressions (image or video batches;
        a video target on each of its frames).

        Returns:
            The decode, the targets' (N, H, W) masks when ``data_samples`` are given (None
            for a batch without targets, whose one zero prompt is decoded so every rank
            runs the same graph) and the MLLM output (empty in phase 1).
        """
        image_feats = self.grounding_encoder.encode_image(inputs['images'])
        if self.train_phase == 'pretrain':
            return self._decode_anchors(inputs, data_samples, image_feats)
        mllm_out, seg_hidden, image_idx = self._read_seg_states(inputs)
        empty = seg_hidden.shape[0] == 0
        if empty:
            seg_hidden = mllm_out['hidden_states'][:1, 0] * 0
            image_idx = inputs['seq_image_idx'][:1]
        result = self.seg_head.decode(self.grounding_encoder, image_feats, seg_hidden,
                                      image_idx)
        gt = None
        if data_samples is not None and not empty:
            gt = self._gt_masks(data_samples, image_idx, result.final_logits.device)
        return result, gt, mllm_out

    def _decode_anchors(self, inputs: dict, data_samples: Optional[list],
                        image_feats: dict) -> Tuple[SegDecodeResult, Optional[torch.Tensor],
                                                    dict]:
        """Phase 1: ``D_t(F, [pad; e])`` of every target (see :meth:`_decode_targets`)."""
        grounding = self.grounding_encoder
        if 'expression_ids' not in inputs:
            anchor = self.seg_head.empty_text_anchor()
            idx = torch.zeros(1, dtype=torch.long, device=anchor.device)
            return self.seg_head.decode_anchor(grounding, image_feats, anchor, idx), None, {}
        anchor = self._text_anchor(inputs)
        image_idx, gt = inputs['target_image_idx'], None
        if 'frame_sample_idx' in inputs:
            # Each video target's anchor prompts every frame of its video (row e * T + t).
            frames_of = self._frames_of(inputs, len(data_samples))
            counts = torch.bincount(image_idx, minlength=len(data_samples)).tolist()
            gts = self._video_gt(data_samples, counts, frames_of, anchor.device, 'expressions')
            anchors, frame_idx = [], []
            for b in range(len(data_samples)):
                targets = torch.nonzero(image_idx == b)[:, 0]
                if len(targets):
                    anchors.append(anchor[targets].repeat_interleave(len(frames_of[b]), dim=0))
                    frame_idx.append(frames_of[b].repeat(len(targets)))
            anchor, image_idx = torch.cat(anchors), torch.cat(frame_idx)
            gt = torch.cat([g.flatten(0, 1) for g, n in zip(gts, counts) if n])
        result = self.seg_head.decode_anchor(grounding, image_feats, anchor, image_idx)
        if data_samples is not None and gt is None:
            gt = self._gt_masks(data_samples, image_idx, result.final_logits.device)
        return result, gt, {}

    # ------------------------------------------------------------------ loss
    def loss(self, inputs: dict, data_samples: List[DetDataSample]) -> Dict[str, torch.Tensor]:
        """Losses of a training batch (images, videos, QA, or a mix).

        Args:
            inputs: The data preprocessor's dict; a batch with ``frame_sample_idx`` holds
                video frames (images as 1-frame videos).
            data_samples: One per sample, with ``gt_instances.masks`` (one mask per
                ``[SEG]``; a video: E x T, expression-major).

        Returns:
            ``loss_lm`` (not in phase 1), the seg head's mask losses (``loss_mask`` /
            ``loss_dice``, or ``loss_mask_<branch>``), ``loss_mask_track`` (memory-mode
            video), its prompt losses (``loss_adv``, ``loss_mi``, ``loss_club_est``) and
            their logged values. A batch with nothing to segment gives zero mask losses
            connected to the same parameters.
        """
        # Once per model: a runner without our checkpoint guards is named (docs/tools.md).
        warn_if_unguarded(self)
        if 'frame_sample_idx' in inputs and self.train_phase != 'pretrain':
            return self._video_loss(inputs, data_samples)
        result, gt, mllm_out = self._decode_targets(inputs, data_samples)
        losses = self._lm_loss(mllm_out)
        losses.update(self.seg_head.mask_losses(result, gt))
        losses.update(self._prompt_losses(inputs, result, gt))
        return losses

    def _prompt_losses(self, inputs: dict, result: SegDecodeResult,
                       gt: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The seg head's losses on its prompts, one row per ``[SEG]``."""
        anchor = None
        if gt is not None and self.seg_head.needs_text_anchor:
            anchor = self._text_anchor(inputs)
        return self.seg_head.prompt_losses(self.grounding_encoder, result, gt, anchor)

    def _video_loss(self, inputs: dict, data_samples: List[DetDataSample]
                    ) -> Dict[str, torch.Tensor]:
        """Phases 2-3 on a batch with video frames: every ``[SEG]`` on each of its frames.

        ``'per_frame'``: each frame decoded as an image, mask losses over all frames.
        ``'memory'``: frame 0 decoded as the key frame, frames 1..T-1 tracked through SAM-2
        memory (``loss_mask_track``). Prompt losses once per ``[SEG]`` (its first frame):
        the prompts are the same on every frame.
        """
        tracker, grounding = self.video_tracker, self.grounding_encoder
        frame_feats = tracker.encode_frames(inputs['images'])
        mllm_out, seg_hidden, sample_idx = self._read_seg_states(inputs)
        losses = self._lm_loss(mllm_out)
        frames_of = self._frames_of(inputs, len(data_samples))
        counts = torch.bincount(sample_idx, minlength=len(data_samples)).tolist()
        gts = self._video_gt(data_samples, counts, frames_of, seg_hidden.device,
                             '[SEG] tokens')
        if seg_hidden.shape[0] == 0:
            # No [SEG] anywhere (pure QA batch): keep every trained parameter in the graph.
            losses['loss_mask_visual'] = mllm_out['hidden_states'].sum() * 0.0
            return losses

        per_frame = self.video_train['mode'] == 'per_frame'
        image_feats = tracker.unconditioned(frame_feats) if per_frame else None
        decoded, decoded_gt, firsts, first_gt, tracked, tracked_gt = [], [], [], [], [], []
        offset = 0
        for b, (frames, gt) in enumerate(zip(frames_of, gts)):  # gt: (n, T, H, W)
            n, num_t = counts[b], len(frames)
            if n == 0:
                continue
            hidden = seg_hidden[offset:offset + n]
            offset += n
            if per_frame:
                result = self.seg_head.decode(grounding, image_feats,
                                              hidden.repeat_interleave(num_t, dim=0),
                                              frames.repeat(n))
                decoded_gt.append(gt.flatten(0, 1))
                first_rows = torch.arange(n, device=hidden.device) * num_t
            else:
                result, tracked_logits = tracker.track_clip(self.seg_head, frame_feats,
                                                            frames, hidden)
                decoded_gt.append(gt[:, 0])
                first_rows = torch.arange(n, device=hidden.device)
                for t, logits in enumerate(tracked_logits, start=1):
                    tracked.append(logits)
                    tracked_gt.append(gt[:, t])
            decoded.append(result)
            firsts.append(result.select(first_rows))
            first_gt.append(gt[:, 0])
        losses.update(self.seg_head.mask_losses(SegDecodeResult.cat(decoded),
                                                torch.cat(decoded_gt)))
        if tracked:
            losses['loss_mask_track'] = self.video_train['track_loss_weight'] * \
                self.seg_head.segmentation_loss(torch.cat(tracked), torch.cat(tracked_gt))
        losses.update(self._prompt_losses(inputs, SegDecodeResult.cat(firsts),
                                          torch.cat(first_gt)))
        return losses

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: List[DetDataSample]) -> List[DetDataSample]:
        """Answers and masks of a test batch of images or of videos.

        Images: each sentence's answer is generated and every ``[SEG]`` of it decoded
        (phase 1: the ground-truth expression's text anchor, one per sentence).
        ``pred_instances`` holds one row per ``[SEG]``, sentence by sentence in answer
        order (an answer without ``[SEG]``: one empty mask, score 0): ``masks`` (M, H, W)
        bool at ``ori_shape``, ``scores`` (M,) predicted IoU and ``sentence_idx`` (M,) the
        sentence of each row; metainfo ``pred_answers`` (N texts, N sentences). The metrics
        score each sentence's first mask, as Sa2VA's evaluation does.

        Videos (``inputs['video_frames']``): per video, the expressions' answers over the
        key frames (:meth:`read_video_prompts`), then every frame streamed through
        :meth:`segment_video`, every ``[SEG]`` of every answer tracked as one object.
        Metainfo ``pred_answers`` (E texts), ``pred_rles`` (E lists of T COCO RLEs
        ``{'size': [H, W], 'counts': str}``: each answer's first ``[SEG]``, what the metrics
        score; an empty mask without one), ``pred_object_rles`` (E lists, one masklet of T
        RLEs per ``[SEG]`` of the answer, in answer order; empty without one) and
        ``frame_names``.

        Runs under :attr:`predict_dtype` (``predict_autocast``).
        """
        with self._predict_context():
            if 'video_frames' in inputs:
                return self._predict_video(inputs, data_samples)
            return self._predict_images(inputs, data_samples)

    def _predict_images(self, inputs: dict, data_samples: List[DetDataSample]
                        ) -> List[DetDataSample]:
        """Image test step (see :meth:`predict`)."""
        device = inputs['images'].device
        if self.train_phase == 'pretrain':
            # A phase-1 model has no trained [SEG] path: evaluate the text decoder on the
            # ground-truth expression's anchor (what phase 1 optimises).
            result = self._decode_targets(inputs)[0]
            seq_image_idx = inputs['target_image_idx']
            answers = [[] for _ in range(len(result))]
            seg_sentence = list(range(len(result)))
        else:
            image_feats = self.grounding_encoder.encode_image(inputs['images'])
            image_embeds = self.mllm.encode_images(inputs['pixel_values'])
            seq_image_idx = inputs['seq_image_idx']
            answers, seg_states = self.mllm.generate(
                inputs['input_ids'], inputs['attention_mask'],
                self._slot_features(inputs, image_embeds),
                max_new_tokens=self.max_new_tokens)
            # Every [SEG] of an answer is decoded (Sa2VA: one mask per [SEG]).
            seg_sentence = [m for m, states in enumerate(seg_states) for _ in states]
            result = None
            if seg_sentence:
                hidden = torch.cat([states for states in seg_states if len(states)])
                result = self.seg_head.decode(self.grounding_encoder, image_feats, hidden,
                                              seq_image_idx[seg_sentence])
        rows_of = [[] for _ in range(len(seq_image_idx))]
        for row, m in enumerate(seg_sentence):
            rows_of[m].append(row)

        seq_of_sample = [[] for _ in data_samples]
        for m, b in enumerate(seq_image_idx.tolist()):
            seq_of_sample[b].append(m)
        for b, sample in enumerate(data_samples):
            h, w = sample.metainfo['ori_shape'][:2]
            masks, scores, sentence_idx, texts = [], [], [], []
            for n, m in enumerate(seq_of_sample[b]):
                texts.append(self.mllm.decode(answers[m]))
                rows = rows_of[m]
                if rows:
                    masks.append(self._masks_at(result.final_logits[rows], (h, w)))
                    scores.append(result.iou_pred[rows].float())
                else:
                    masks.append(torch.zeros(1, h, w, dtype=torch.bool, device=device))
                    scores.append(torch.zeros(1, device=device))
                sentence_idx += [n] * len(masks[-1])
            pred = InstanceData()
            pred.masks = torch.cat(masks) if masks else torch.zeros(
                0, h, w, dtype=torch.bool, device=device)
            pred.scores = torch.cat(scores) if scores else torch.zeros(0, device=device)
            pred.sentence_idx = torch.tensor(sentence_idx, dtype=torch.long, device=device)
            sample.pred_instances = pred
            sample.set_metainfo(dict(pred_answers=texts))
        return list(data_samples)

    def _masks_at(self, logits: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        """(E, 1, h', w') low-res logits -> (E, H, W) bool masks at ``size``.

        ``mask_resize='via_sam_input'`` (Sa2VA): bilinear to the SAM-2 input size S x S
        first, then to ``size``; ``'direct'``: bilinear to ``size``. In float32 either way.
        """
        logits = logits.float()
        if self.mask_resize == 'via_sam_input':
            side = self.grounding_encoder.image_size
            logits = F.interpolate(logits, size=(side, side), mode='bilinear',
                                   align_corners=False)
        return F.interpolate(logits, size=size, mode='bilinear',
                             align_corners=False)[:, 0] > self.mask_threshold

    def _predict_video(self, inputs: dict, data_samples: list) -> list:
        """Video test step (see :meth:`predict`)."""
        tiles = torch.split(inputs['pixel_values'], list(inputs['num_tiles']))
        seq_idx = inputs['seq_image_idx'].tolist()
        for b, (sample, stream) in enumerate(zip(data_samples, inputs['video_frames'])):
            meta = sample.metainfo
            rows = [m for m, v in enumerate(seq_idx) if v == b]
            answers, states = self.read_video_prompts(
                tiles[b], inputs['input_ids'][rows], inputs['attention_mask'][rows])
            # Every [SEG] of every answer is one tracked object, expression by expression.
            objects = [(i, k) for i, s in enumerate(states) for k in range(len(s))]
            seg_hidden = torch.cat([s for s in states if len(s)]) if objects else \
                inputs['pixel_values'].new_zeros(0, self.mllm.hidden_size)
            h, w = meta['ori_shape'][:2]
            object_rles: List[List[List[dict]]] = [[[] for _ in s] for s in states]
            frame_names = []
            for frame in self.segment_video(stream, seg_hidden, meta['key_frame_ids'],
                                            num_frames=stream.num_frames, ori_shape=(h, w)):
                frame_names.append(frame['frame_name'])
                for (i, k), rle in zip(objects, encode_masks(frame['masks'].numpy())):
                    object_rles[i][k].append(rle)
            # The metrics score each expression's first [SEG] (an empty mask without one).
            empty = encode_mask(np.zeros((h, w), dtype=bool))
            pred_rles = [per[0] if per else [dict(empty) for _ in frame_names]
                         for per in object_rles]
            sample.set_metainfo(dict(
                pred_rles=pred_rles, pred_object_rles=object_rles,
                pred_answers=[self.mllm.decode(a) for a in answers],
                frame_names=frame_names))
        return list(data_samples)

    # ------------------------------------------------------------------ video API
    @torch.no_grad()
    def read_video_prompts(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                           attention_mask: torch.Tensor,
                           prompt_masks: Optional[torch.Tensor] = None,
                           region_key_frame: int = 0
                           ) -> Tuple[List[List[int]], List[Optional[torch.Tensor]]]:
        """Generate each expression's answer over a video's key frames.

        Args:
            pixel_values: (K, 3, s, s) key-frame tiles (one InternVL tile per key frame).
            input_ids: (E, L) left-padded prompts, one per expression (``<img>`` +
                K x n ``<IMG_CONTEXT>`` + ``</img>`` + question).
            attention_mask: (E, L).
            prompt_masks: (R, H, W) bool region prompts drawn on one key frame, read at
                the ``<vp>`` slots of every prompt (docs/visual_prompts.md), or None.
            region_key_frame: Which of the K key frames the regions are drawn on.

        Returns:
            E answers (generated ids) and E ``(K_e, H)`` states: every ``[SEG]`` of each
            answer, in answer order (``K_e = 0`` when it has none).
        """
        with self._predict_context():
            image_embeds = self.mllm.encode_images(pixel_values)
            if prompt_masks is None:
                image_embeds = image_embeds.flatten(0, 1).repeat(input_ids.shape[0], 1)
            else:
                # The video is one sample of K tiles; every prompt reads the same regions.
                image_embeds = image_and_region_tokens(
                    image_embeds, [len(image_embeds)],
                    input_ids.new_zeros(input_ids.shape[0]), input_ids, attention_mask,
                    [prompt_masks], image_token_id=self.mllm.image_token_id,
                    vp_start_id=self.mllm.vp_start_id, vp_end_id=self.mllm.vp_end_id,
                    region_tile=[region_key_frame])
            answers, seg_states = self.mllm.generate(input_ids, attention_mask, image_embeds,
                                                     max_new_tokens=self.max_new_tokens)
        hidden = self.mllm.hidden_size
        return answers, [s if len(s) else image_embeds.new_zeros(0, hidden)
                         for s in seg_states]

    @torch.no_grad()
    def segment_video(self,
                      frames: Iterable,
                      seg_hidden: torch.Tensor,
                      key_frame_ids: Sequence[int],
                      *,
                      num_frames: Optional[int] = None,
                      video_id: str = 'video',
                      frame_names: Optional[Sequence[str]] = None,
                      ori_shape: Optional[Tuple[int, int]] = None) -> Iterator[dict]:
        """Stream a video's masks: key frames decoded from ``[SEG]``, the rest tracked.

        Frames are pulled, prepared (``data_preprocessor.prepare_frame``), encoded and
        released one at a time; only SAM-2's bounded memory bank is kept
        (``video_tracker.memory_bank``), so memory does not grow with the video.

        Args:
            frames: A ``FrameStream`` (what the data preprocessor packs for test videos) or
                any iterable of (H, W, 3) uint8 BGR arrays (a frame source of
                ``desa2va_mm.datasets.video_io``, a list, a generator). Paths are refused:
                the model reads frames, not files.
            seg_hidden: (E, H) one ``[SEG]`` state per tracked expression (E may be 0).
            key_frame_ids: The frames the MLLM saw: decoded by the seg head (all branches)
                and written to SAM-2's memory as conditioning frames; the first frame of
                the stream always is one.
            num_frames: Video length when known (SAM-2's object-pointer range).
            video_id: Name for error messages.
            frame_names: Frame names for results and error messages.
            ori_shape: (H, W) of the output masks; default each frame's own size.

        Yields:
            dict ``frame_idx``, ``frame_name``, ``is_key_frame``, ``masks`` (E, H, W) bool,
            ``scores`` (E,) predicted IoU, ``logits`` (E, 1, h', w') SAM-2 low-res logits
            (absent objects at -1024), all on the CPU.
        """
        stream = frames if isinstance(frames, FrameStream) else \
            self.data_preprocessor.stream_frames(frames, video_id=video_id,
                                                 frame_names=frame_names,
                                                 num_frames=num_frames)
        num = seg_hidden.shape[0]
        frames_tracked = self.video_tracker.track(stream, self.seg_head, seg_hidden,
                                                  key_frame_ids, num_frames=num_frames)
        while True:
            # Each frame is computed inside the autocast context, which is left before the
            # frame is yielded (the caller's code never runs under it).
            with self._predict_context():
                tracked = next(frames_tracked, None)
            if tracked is None:
                return
            frame = tracked.frame
            h, w = ori_shape if ori_shape is not None else frame.ori_shape
            masks = self._masks_at(tracked.logits, (h, w)) if num else \
                torch.zeros(0, h, w, dtype=torch.bool)
            yield dict(frame_idx=tracked.frame_idx, frame_name=frame.name,
                       is_key_frame=tracked.is_key_frame, masks=masks.cpu(),
                       scores=tracked.iou_pred.float().cpu(),
                       logits=tracked.logits.float().cpu())
