"""SAM-2 memory tracking for video: the streaming loop around a bounded memory bank."""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from desa2va_mm.registry import MODELS
from ..seg_heads.seg_decode_result import SegDecodeResult

#: SAM-2's "no object" logit (``sam2.modeling.sam2_base.NO_OBJ_SCORE``).
NO_OBJ_SCORE = -1024.0
#: ``'none'``: no hard choice (Sa2VA); ``'decoder'`` / ``'mask'``: SAM-2's hard choice, the
#: presence read from the decoder's object score or from the mask.
OBJECT_SCORE_SOURCES = ('none', 'decoder', 'mask')
#: The tracker settings of Sa2VA's own video inference (docs/method.md §12).
SA2VA_VIDEO_MODE = dict(track_with_seg_prompt=False, object_score_source='none')
#: The object score given to ``_encode_new_memory`` for a present object (any logit > 0).
_PRESENT_SCORE = 10.0


class SAM2MemoryBank:
    """The ``output_dict`` SAM-2's memory attention reads, bounded for streaming.

    ``cond_frame_outputs`` hold the key frames (masks decoded from the ``[SEG]`` states),
    kept for the whole video: there are as many as key frames (5 by default), so they do
    not grow with the video. ``non_cond_frame_outputs`` hold tracked frames; only the last
    ``window`` are kept, because ``SAM2Base._prepare_memory_conditioned_features`` never
    reads a non-conditioning frame further back than ``num_maskmem - 1`` frames (spatial
    memories, times the temporal stride) or ``max_obj_ptrs_in_encoder - 1`` frames (object
    pointers). Older entries are dropped when a new one is added, so the bank never holds
    more than ``window`` tracked frames plus the key frames.

    Each entry: ``maskmem_features`` (E, C_mem, h, w), ``maskmem_pos_enc``
    [(E, C_mem, h, w)], ``obj_ptr`` (E, C) for the E objects (expressions) tracked
    together.

    Args:
        window: Number of most recent tracked frames kept.
    """

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        self.window = window
        self.output_dict: Dict[str, Dict[int, dict]] = dict(
            cond_frame_outputs=OrderedDict(), non_cond_frame_outputs=OrderedDict())

    @property
    def cond(self) -> Dict[int, dict]:
        return self.output_dict['cond_frame_outputs']

    @property
    def non_cond(self) -> Dict[int, dict]:
        return self.output_dict['non_cond_frame_outputs']

    def add(self, frame_idx: int, entry: dict, is_cond: bool) -> None:
        """Store one frame's memory and drop tracked frames outside the window."""
        (self.cond if is_cond else self.non_cond)[frame_idx] = entry
        oldest = frame_idx - self.window
        for idx in [i for i in self.non_cond if i <= oldest]:
            del self.non_cond[idx]

    def __len__(self) -> int:
        return len(self.cond) + len(self.non_cond)


class _StreamPrompts:
    """The grounding encoder as the heads see it during one :meth:`SAM2VideoTracker.track`
    stream: SAM-2's padding prompts, which do not depend on the frame, are computed once
    per stream instead of once per frame (SAM-2's predictor recomputes them on every
    frame). Everything else is the grounding encoder's own."""

    def __init__(self, grounding) -> None:
        self._grounding = grounding
        self._padding: Dict[int, torch.Tensor] = {}

    def padding_prompts(self, num: int) -> torch.Tensor:
        if num not in self._padding:
            self._padding[num] = self._grounding.padding_prompts(num)
        return self._padding[num]

    def __getattr__(self, name: str):
        return getattr(self._grounding, name)


@dataclass
class TrackedFrame:
    """One frame of :meth:`SAM2VideoTracker.track`.

    Attributes:
        frame_idx: Index of the frame in the stream.
        frame: The item the stream gave (e.g. the data preprocessor's ``PreparedFrame``).
        is_key_frame: Decoded from the ``[SEG]`` states (a conditioning frame of the
            memory) rather than tracked.
        logits: (E, 1, 4h, 4w) SAM-2 low-res logits of the E objects, the ones the memory
            was given: raw in the Sa2VA mode (``object_score_source='none'``), absent
            objects at ``NO_OBJ_SCORE`` with SAM-2's hard choice.
        iou_pred: (E,) predicted IoU of each mask.
    """

    frame_idx: int
    frame: Any
    is_key_frame: bool
    logits: torch.Tensor
    iou_pred: torch.Tensor


@MODELS.register_module()
class SAM2VideoTracker:
    """Track objects through a video with SAM-2's memory, one frame at a time.

    The shape of sam2's ``SAM2VideoPredictor``: :meth:`track` streams a video (key frames
    decoded from the ``[SEG]`` states, every other frame conditioned on the memory of
    earlier frames), and :meth:`track_clip` runs the same loop on a training clip with the
    memory kept in the graph. It holds the grounding encoder (``bind``, done by the
    segmentor) and no parameters of its own: it calls the memory functions of its
    ``SAM2Base`` (``_prepare_backbone_features``, ``_prepare_memory_conditioned_features``,
    ``_encode_new_memory``, ``obj_ptr_proj``), so SAM-2 checkpoints and configs apply
    unchanged. Masks are decoded by the segmentation head it is given (``decode`` on key
    frames, ``decode_tracked`` on the others), which calls its decoders directly (the
    stock ``_forward_sam_heads`` overwrites logits with -1024 and uses the stock decoder).

    Several expressions of one video are SAM-2's "objects": the frame is encoded once
    (batch 1) and its features are expanded to E rows.

    Two tracking modes (docs/method.md §12), set by two keyword arguments:

    **Sa2VA mode** (the defaults, :data:`SA2VA_VIDEO_MODE`: ``track_with_seg_prompt=False,
    object_score_source='none'``), what Sa2VA's video inference does. For E objects with
    ``[SEG]`` states ``h`` (E, H), image features ``F_t`` of frame t and memory bank ``B``:

    1. key frame k (no memory, SAM-2's ``no_mem_embed``, exactly the image path):
       ``M_k = head.decode(F_k, h)`` -- the ``[SEG]`` prompt enters here only;
    2. tracked frame t, prompt-free propagation: ``F'_t = MemAttn(F_t, B)`` and
       ``M_t = D(F'_t, [pad; pad])`` (SAM-2's two padding tokens, no ``[SEG]`` token);
    3. output and memory keep the raw logits: ``M_t`` is never overwritten with -1024
       (Sa2VA comments SAM-2's overwrite out);
    4. memory: ``MemEnc(F_t, sigmoid(up(M_t)) * s + b)`` (``s``, ``b``:
       ``sigmoid_scale/bias_for_mem_enc``, ``up``: bilinear to the SAM-2 input size), with
       no spatial no-object embedding (Sa2VA's SAM-2.0 memory encoder has none);
    5. object pointer, as SAM-2's ``_forward_sam_heads``: ``p = proj(tok)`` of the chosen
       mask token, then with ``lambda = [o > 0]`` (``sigmoid(o)`` when
       ``soft_no_obj_ptr``) of the decoder's object score ``o``:
       ``p = lambda p + (1 - lambda) no_obj_ptr`` (``fixed_no_obj_ptr``: as written;
       otherwise ``p + (1 - lambda) no_obj_ptr``).

    **Prompted mode** (``track_with_seg_prompt=True, object_score_source='decoder'`` or
    ``'mask'``; DeSa2VA's default is in ``configs/_base_/models/desa2va_*.py``): tracked
    frames carry the ``[SEG]`` prompt token too (``D(F'_t, [pad; pad; tok(h)])``), and
    SAM-2's hard choice applies on every frame: an object judged absent gets
    ``M_t = -1024`` everywhere for output and memory, ``no_obj_ptr`` as its pointer and
    (SAM-2.1) the spatial no-object embedding in its memory. Presence comes from the
    decoder's object score (``'decoder'``) or from the mask having a positive pixel
    (``'mask'``, for models whose object-score head never trained).

    The two arguments are independent, so the mixed settings remain as ablations.

    Args:
        track_with_seg_prompt: Add the ``[SEG]`` prompt token (DeSa2VA: ``[pad; h_v]``) on
            every tracked frame; False (Sa2VA) tracks with SAM-2's padding prompts only, as
            SAM-2's video predictor does on frames without clicks.
        object_score_source: ``'none'`` (Sa2VA): no hard choice, the raw logits are output
            and written to memory, the decoder's object score only gates the object
            pointer; ``'decoder'``: the head's object-score logit decides whether the
            object is present (SAM-2: absent -> mask logits set to -1024 for memory and
            output, ``no_obj_ptr`` pointer); ``'mask'``: the object is present when the
            mask has a positive pixel.
        memory_window: Tracked frames kept in the bank; None derives the smallest window
            SAM-2 reads from its config (``num_maskmem``, the eval stride and
            ``max_obj_ptrs_in_encoder``).
        memory_dtype: dtype the spatial memories are stored in at inference (``track``),
            e.g. ``'bfloat16'``, as sam2's ``SAM2VideoPredictor`` (and so Sa2VA's video
            inference) stores them; None keeps the memory encoder's dtype (float32 on
            CPU). Memory attention reads them back promoted to the features' dtype.
            Training clips (``track_clip``) always keep the memory encoder's dtype.

    Raises:
        ValueError: ``object_score_source`` is not one of :data:`OBJECT_SCORE_SOURCES`,
            or ``memory_dtype`` is not a torch floating dtype name.
    """

    def __init__(self,
                 *,
                 track_with_seg_prompt: bool = False,
                 object_score_source: str = 'none',
                 memory_window: Optional[int] = None,
                 memory_dtype: Optional[str] = None) -> None:
        if object_score_source not in OBJECT_SCORE_SOURCES:
            raise ValueError(f'SAM2VideoTracker: object_score_source must be one of '
                             f'{OBJECT_SCORE_SOURCES}, got {object_score_source!r} (set '
                             'model.video_tracker.object_score_source)')
        dtype = getattr(torch, memory_dtype, None) if memory_dtype is not None else None
        if memory_dtype is not None and not (isinstance(dtype, torch.dtype)
                                             and dtype.is_floating_point):
            raise ValueError(f'SAM2VideoTracker: memory_dtype must be None or a torch '
                             f"floating dtype name such as 'bfloat16', got {memory_dtype!r} "
                             '(set model.video_tracker.memory_dtype)')
        self.track_with_seg_prompt = track_with_seg_prompt
        self.object_score_source = object_score_source
        self.memory_window = memory_window
        self.memory_dtype = memory_dtype
        self._memory_torch_dtype = dtype
        self.grounding = None
        # Per-stream constants while track() runs (None otherwise, e.g. in training).
        self._stream_prompts: Optional[_StreamPrompts] = None
        self._stream_image_pe: Optional[torch.Tensor] = None
        #: The bank of the stream in progress (or the last one), for inspection.
        self.memory_bank: Optional[SAM2MemoryBank] = None

    @property
    def is_sa2va_mode(self) -> bool:
        """Whether the settings are Sa2VA's video inference (:data:`SA2VA_VIDEO_MODE`)."""
        return (not self.track_with_seg_prompt) and self.object_score_source == 'none'

    @property
    def hard_object_choice(self) -> bool:
        """Whether absent objects get ``NO_OBJ_SCORE`` logits (SAM-2's overwrite)."""
        return self.object_score_source != 'none'

    def bind(self, grounding) -> 'SAM2VideoTracker':
        """Use ``grounding`` (a ``SAM2Grounding``): its ``SAM2Base`` and prompt encoder."""
        self.grounding = grounding
        return self

    @property
    def sam2(self):
        if self.grounding is None:
            raise RuntimeError('SAM2VideoTracker has no SAM-2: bind(grounding_encoder) first '
                               '(DeSa2VA does it when it builds the tracker)')
        return self.grounding.sam2

    # ------------------------------------------------------------------ bank
    def required_window(self) -> int:
        """Furthest tracked frame ``_prepare_memory_conditioned_features`` can read."""
        sam2 = self.sam2
        stride = max(1, int(sam2.memory_temporal_stride_for_eval))
        spatial = 1 + stride * max(0, sam2.num_maskmem - 2)
        pointers = sam2.max_obj_ptrs_in_encoder - 1 if sam2.use_obj_ptrs_in_encoder else 0
        return max(1, spatial, pointers)

    def new_bank(self) -> SAM2MemoryBank:
        return SAM2MemoryBank(self.memory_window or self.required_window())

    # ------------------------------------------------------------------ features
    def encode_frames(self, images: torch.Tensor) -> dict:
        """Encode frames once with the image encoder.

        Args:
            images: (B, 3, S, S) normalised frames.

        Returns:
            dict: ``vision_feats`` / ``vision_pos`` lists of (hw, B, C) per level (SAM-2's
            flattened layout), ``feat_sizes``, ``high_res_feats`` raw FPN maps
            [(B, C, 4h, 4w), (B, C, 2h, 2w)] or None.
        """
        sam2 = self.sam2
        backbone_out = sam2.image_encoder(images)
        _, vision_feats, vision_pos, feat_sizes = sam2._prepare_backbone_features(backbone_out)
        high_res = list(backbone_out['backbone_fpn'][:-1]) \
            if sam2.use_high_res_features_in_sam else None
        return dict(vision_feats=vision_feats, vision_pos=vision_pos, feat_sizes=feat_sizes,
                    high_res_feats=high_res)

    @staticmethod
    def select(frame_feats: dict, frame: int, num: int) -> dict:
        """Frame ``frame`` of encoded frames, repeated for ``num`` objects."""
        return dict(
            vision_feats=[f[:, frame:frame + 1].expand(-1, num, -1) for f in
                          frame_feats['vision_feats']],
            vision_pos=[p[:, frame:frame + 1].expand(-1, num, -1) for p in
                        frame_feats['vision_pos']],
            feat_sizes=frame_feats['feat_sizes'],
            high_res_feats=None if frame_feats['high_res_feats'] is None else [
                f[frame:frame + 1].expand(num, -1, -1, -1) for f in
                frame_feats['high_res_feats']])

    def head_features(self, feats: dict, pix_feat: torch.Tensor) -> dict:
        """The ``image_feats`` dict the mask heads read, with ``pix_feat`` (E, C, h, w)."""
        if self._stream_prompts is None:
            image_pe = self.sam2.sam_prompt_encoder.get_dense_pe()
        else:  # frame-independent: once per stream
            if self._stream_image_pe is None:
                self._stream_image_pe = self.sam2.sam_prompt_encoder.get_dense_pe()
            image_pe = self._stream_image_pe
        return dict(image_embed=pix_feat, high_res_feats=feats['high_res_feats'],
                    image_pe=image_pe)

    def memory_conditioned(self, frame_idx: int, feats: dict, bank: SAM2MemoryBank,
                           num_frames: Optional[int] = None) -> dict:
        """Heads' features of a tracked frame: SAM-2 memory attention over the bank.

        Args:
            frame_idx: Index of the frame in the video.
            feats: The frame's features for E objects (:meth:`select`).
            bank: Memory of earlier frames (at least one key frame).
            num_frames: Video length if known (caps the object-pointer range as in SAM-2's
                video predictor); None for a stream of unknown length.

        Returns:
            ``image_feats`` dict with ``image_embed`` (E, C, h, w) conditioned on memory.
        """
        if not bank.cond:
            raise RuntimeError(f'frame {frame_idx}: no key frame in the memory bank yet')
        pix_feat = self.sam2._prepare_memory_conditioned_features(
            frame_idx=frame_idx,
            is_init_cond_frame=False,
            # Only the lowest-resolution level is conditioned (as ``SAM2Base.track_step``).
            current_vision_feats=feats['vision_feats'][-1:],
            current_vision_pos_embeds=feats['vision_pos'][-1:],
            feat_sizes=feats['feat_sizes'][-1:],
            output_dict=bank.output_dict,
            num_frames=num_frames if num_frames is not None else frame_idx + 2**30)
        return self.head_features(feats, pix_feat)

    def unconditioned(self, feats: dict) -> dict:
        """Heads' features of a key frame: no memory (SAM-2's ``no_mem_embed``), as images."""
        sam2 = self.sam2
        h, w = feats['feat_sizes'][-1]
        top = feats['vision_feats'][-1]
        if sam2.directly_add_no_mem_embed:
            top = top + sam2.no_mem_embed
        pix_feat = top.permute(1, 2, 0).reshape(top.shape[1], -1, h, w)
        return self.head_features(feats, pix_feat)

    # ------------------------------------------------------------------ outputs
    def object_presence(self, low_res_logits: torch.Tensor,
                        object_score_logits: torch.Tensor) -> torch.Tensor:
        """(E,) bool: is the object on this frame (see ``object_score_source``).

        ``'none'`` reads the decoder's object score as ``'decoder'`` does: in the Sa2VA
        mode it gates the object pointer only (:meth:`memory_entry`).
        """
        if self.object_score_source == 'mask':
            return (low_res_logits.flatten(1) > 0).any(dim=1)
        return object_score_logits.reshape(-1) > 0

    @staticmethod
    def finalize_logits(low_res_logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """SAM-2's hard choice: an absent object's mask is ``NO_OBJ_SCORE`` everywhere."""
        return torch.where(present.view(-1, 1, 1, 1), low_res_logits,
                           low_res_logits.new_full((), NO_OBJ_SCORE))

    def output_logits(self, low_res_logits: torch.Tensor,
                      present: torch.Tensor) -> torch.Tensor:
        """The logits a frame outputs and writes to memory: raw in the Sa2VA mode
        (``object_score_source='none'``), :meth:`finalize_logits` otherwise."""
        if not self.hard_object_choice:
            return low_res_logits
        return self.finalize_logits(low_res_logits, present)

    def memory_entry(self, feats: dict, low_res_logits: torch.Tensor,
                     result: SegDecodeResult, present: torch.Tensor,
                     detach: bool = True, is_key_frame: bool = False) -> dict:
        """Encode a frame's mask into SAM-2 memory and compute its object pointer.

        Args:
            feats: The frame's features for E objects.
            low_res_logits: (E, 1, 4h, 4w) the frame's final mask logits (fused on key
                frames, visual head on tracked frames) as :meth:`output_logits` gives
                them (raw in the Sa2VA mode, absent objects at -1024 otherwise).
            result: The frame's decode (its last visual decode's ``mask_tokens`` and
                ``multi_iou`` give the object pointer).
            present: (E,) object presence (:meth:`object_presence`): gates the pointer
                and, with SAM-2's hard choice, the spatial no-object embedding.
            detach: Detach the memory (inference); False lets later frames' losses train
                the memory encoder and pointer projection (memory-mode video training).
            is_key_frame: The mask is the prompted one (SAM-2's ``is_mask_from_pts``):
                binarised for the memory encoder when the SAM-2 config sets
                ``binarize_mask_from_pts_for_mem_enc`` (sam2's stock video-predictor
                builder does; Sa2VA's and our configs do not).

        Returns:
            dict ``maskmem_features``, ``maskmem_pos_enc``, ``obj_ptr`` (E, C).
        """
        sam2 = self.sam2
        # The mask enters memory as SAM-2 feeds it (sigmoid of the upsampled logits),
        # without a gradient path back into the prediction that produced it.
        low_res_logits = low_res_logits.detach()
        size = sam2.image_size
        high_res = F.interpolate(low_res_logits.float(), size=(size, size), mode='bilinear',
                                 align_corners=False)
        if self.hard_object_choice:
            score = torch.where(present, _PRESENT_SCORE, -_PRESENT_SCORE).to(high_res)
        else:
            # Sa2VA: the mask alone enters memory; its SAM-2.0 memory encoder has no
            # spatial no-object embedding, so a SAM-2.1 one is not added either.
            score = high_res.new_full((high_res.shape[0], ), _PRESENT_SCORE)
        maskmem_features, maskmem_pos_enc = sam2._encode_new_memory(
            current_vision_feats=feats['vision_feats'],
            feat_sizes=feats['feat_sizes'],
            pred_masks_high_res=high_res,
            object_score_logits=score.view(-1, 1),
            # As SAM-2's predictor (and Sa2VA) encodes a prompted frame.
            is_mask_from_pts=is_key_frame)
        tokens = result.mask_tokens
        if tokens.shape[1] > 1:
            # Multimask decode: the pointer comes from the chosen candidate's token.
            best = result.multi_iou.argmax(dim=-1)
            token = tokens[torch.arange(tokens.shape[0], device=tokens.device), best]
        else:
            token = tokens[:, 0]
        obj_ptr = sam2.obj_ptr_proj(token)
        if sam2.pred_obj_scores:
            appearing = self.pointer_weight(result, present).to(obj_ptr)
            if sam2.fixed_no_obj_ptr:
                obj_ptr = appearing * obj_ptr
            obj_ptr = obj_ptr + (1 - appearing) * sam2.no_obj_ptr
        if detach:
            maskmem_features, obj_ptr = maskmem_features.detach(), obj_ptr.detach()
            maskmem_pos_enc = [p.detach() for p in maskmem_pos_enc]
            if self._memory_torch_dtype is not None:
                maskmem_features = maskmem_features.to(self._memory_torch_dtype)
        return dict(maskmem_features=maskmem_features, maskmem_pos_enc=maskmem_pos_enc,
                    obj_ptr=obj_ptr)

    def pointer_weight(self, result: SegDecodeResult, present: torch.Tensor) -> torch.Tensor:
        """(E, 1) ``lambda`` of the object pointer ``lambda p + (1 - lambda) no_obj_ptr``.

        The hard presence, except in the Sa2VA mode with SAM-2's ``soft_no_obj_ptr``,
        where it is the sigmoid of the decoder's object score (``_forward_sam_heads``).
        """
        if not self.hard_object_choice and getattr(self.sam2, 'soft_no_obj_ptr', False):
            return result.object_score_logits.reshape(-1, 1).float().sigmoid()
        return present.float().view(-1, 1)

    @property
    def _prompting_grounding(self):
        """The grounding encoder handed to the heads (per-stream prompts in ``track``)."""
        return self._stream_prompts if self._stream_prompts is not None else self.grounding

    # ------------------------------------------------------------------ one frame
    def decode_key_frame(self, seg_head, feats: dict,
                         seg_hidden: torch.Tensor) -> SegDecodeResult:
        """Every branch of the head on a key frame (its features for 1 row, no memory)."""
        idx = torch.zeros(seg_hidden.shape[0], dtype=torch.long, device=seg_hidden.device)
        return seg_head.decode(self._prompting_grounding, self.unconditioned(feats),
                               seg_hidden, idx)

    def decode_tracked_frame(self, seg_head, frame_idx: int, feats: dict,
                             bank: SAM2MemoryBank, num_frames: Optional[int],
                             track_prompt: torch.Tensor) -> SegDecodeResult:
        """The head's tracking decoder on memory-conditioned features (E rows)."""
        image_feats = self.memory_conditioned(frame_idx, feats, bank, num_frames)
        idx = torch.arange(track_prompt.shape[0], device=track_prompt.device)
        return seg_head.decode_tracked(self._prompting_grounding, image_feats, track_prompt, idx,
                                       with_prompt=self.track_with_seg_prompt)

    def remember(self, bank: SAM2MemoryBank, frame_idx: int, feats: dict,
                 result: SegDecodeResult, is_key_frame: bool,
                 detach: bool = True) -> torch.Tensor:
        """Write a decoded frame into the bank; returns its :meth:`output_logits`
        (E, 1, 4h, 4w)."""
        present = self.object_presence(result.final_logits, result.object_score_logits)
        logits = self.output_logits(result.final_logits, present)
        # The flag changes the memory only when SAM-2 binarises prompted masks; passed
        # then only, so an override of memory_entry without the argument keeps working.
        binarises = is_key_frame and getattr(self.sam2, 'binarize_mask_from_pts_for_mem_enc',
                                             False)
        extra = dict(is_key_frame=True) if binarises else {}
        bank.add(frame_idx, self.memory_entry(feats, logits, result, present, detach=detach,
                                              **extra),
                 is_cond=is_key_frame)
        return logits

    # ------------------------------------------------------------------ loops
    def track(self, frames: Iterable, seg_head, seg_hidden: torch.Tensor,
              key_frame_ids: Sequence[int], *,
              num_frames: Optional[int] = None) -> Iterator[TrackedFrame]:
        """Stream a video: key frames decoded from ``[SEG]``, the rest tracked by memory.

        Frames are pulled one at a time and only the bank (key frames + the last
        ``window`` tracked frames) is kept, so memory does not grow with the video.

        Args:
            frames: Iterable of prepared frames: items with an ``image`` attribute, the
                (1, 3, S, S) normalised SAM-2 input (``ReferringDataPreprocessor``'s
                ``PreparedFrame``).
            seg_head: The segmentation head (``BaseSegHead``).
            seg_hidden: (E, H) one ``[SEG]`` state per tracked expression.
            key_frame_ids: Frames decoded from the ``[SEG]`` states (conditioning frames).
                The first frame of the stream is always decoded this way (SAM-2 cannot
                track before a conditioning frame).
            num_frames: Video length when known (SAM-2's object-pointer range).

        Yields:
            One :class:`TrackedFrame` per frame (E = 0: empty logits, nothing encoded).
        """
        keys = set(int(k) for k in key_frame_ids)
        bank = self.memory_bank = self.new_bank()
        num = seg_hidden.shape[0]
        track_prompt = seg_head.tracking_prompt(seg_hidden) if num else None
        # Without gradients the frame-independent prompts are computed once per stream.
        self._stream_prompts = None if torch.is_grad_enabled() else \
            _StreamPrompts(self.grounding)
        self._stream_image_pe = None
        try:
            for frame_idx, frame in enumerate(frames):
                is_key = frame_idx in keys or not bank.cond
                if num == 0:
                    yield TrackedFrame(frame_idx, frame, is_key, torch.zeros(0, 1, 1, 1),
                                       torch.zeros(0))
                    continue
                encoded = self.encode_frames(frame.image)
                feats = self.select(encoded, 0, num)
                if is_key:
                    result = self.decode_key_frame(seg_head, self.select(encoded, 0, 1),
                                                   seg_hidden)
                else:
                    result = self.decode_tracked_frame(seg_head, frame_idx, feats, bank,
                                                       num_frames, track_prompt)
                logits = self.remember(bank, frame_idx, feats, result, is_key)
                del encoded, feats
                yield TrackedFrame(frame_idx, frame, is_key, logits, result.iou_pred)
        finally:
            self._stream_prompts = self._stream_image_pe = None

    def track_clip(self, seg_head, frame_feats: dict, frame_ids: Sequence[int],
                   seg_hidden: torch.Tensor) -> Tuple[SegDecodeResult, List[torch.Tensor]]:
        """Memory-mode training on one clip: frame 0 is the key frame, the rest tracked.

        The memory stays in the graph (``detach=False``), so the tracked frames' losses
        train the memory encoder, memory attention and pointer projection when they are
        not frozen.

        Args:
            seg_head: The segmentation head.
            frame_feats: :meth:`encode_frames` of the batch's frames.
            frame_ids: The clip's rows of ``frame_feats``, in time order (T >= 1).
            seg_hidden: (E, H) the clip's ``[SEG]`` states.

        Returns:
            The key frame's decode and the T - 1 tracked frames' raw logits
            (E, 1, 4h, 4w) each.
        """
        num, num_t = seg_hidden.shape[0], len(frame_ids)
        bank = self.new_bank()
        key_result, tracked, track_prompt = None, [], None
        for t in range(num_t):
            feats = self.select(frame_feats, int(frame_ids[t]), num)
            if t == 0:
                result = key_result = self.decode_key_frame(
                    seg_head, self.select(frame_feats, int(frame_ids[t]), 1), seg_hidden)
                track_prompt = seg_head.tracking_prompt(seg_hidden)
            else:
                result = self.decode_tracked_frame(seg_head, t, feats, bank, num_t,
                                                   track_prompt)
                tracked.append(result.final_logits)
            if t < num_t - 1:
                self.remember(bank, t, feats, result, is_key_frame=(t == 0), detach=False)
        return key_result, tracked

    def __repr__(self) -> str:
        mode = ', Sa2VA mode' if self.is_sa2va_mode else ''
        return (f'{self.__class__.__name__}(track_with_seg_prompt='
                f'{self.track_with_seg_prompt}, object_score_source='
                f'{self.object_score_source!r}, memory_window={self.memory_window}'
                + (f', memory_dtype={self.memory_dtype!r}' if self.memory_dtype else '')
                + f'{mode})')
