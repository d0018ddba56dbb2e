"""Video segmentation for DeSa2VA: key frames to the MLLM, SAM-2 memory tracking, streaming.

Public API of video prediction (what ``tools/test.py`` and the Inferencer call)
==============================================================================

``model.predict(inputs, data_samples)`` with a video batch (``inputs['videos'] is True``, made
by ``VideoReferringDataPreprocessor`` from ``PackVideoReferringInputs`` samples) returns one
``DetDataSample`` per video whose metainfo holds ``video_id``, ``exp_ids``, ``expressions``,
``type_ids`` (when given), ``frame_names``, ``ori_shape``, ``gt_rles`` (when given),
``pred_answers`` (E answer texts) and ``pred_rles``: E lists of T COCO RLE dicts
``{'size': [H, W], 'counts': str}`` (an empty mask is the RLE of zeros, never dropped).

The two steps, usable alone (e.g. by an Inferencer on a list of arrays or an mp4):

1. ``answers, seg_hidden = model.read_video_prompts(pixel_values, input_ids, attention_mask)``
   ``pixel_values`` (K, 3, s, s): one InternVL tile per key frame; ``input_ids`` /
   ``attention_mask`` (E, L): one left-padded prompt per expression (``<img>`` + K x n
   ``<IMG_CONTEXT>`` + ``</img>`` + question). Returns the E generated id lists and, per
   expression, the first ``[SEG]`` state (H,) or None when the answer has no ``[SEG]``.
2. ``for frame in model.segment_video(frames, seg_hidden, key_frame_ids, ...)``: a generator
   over the video, one frame at a time. ``frames``: any iterable of (H, W, 3) uint8 BGR
   arrays or image paths (a folder's sorted frames, an mp4 decoder, a list); it is read,
   encoded and released frame by frame, and only SAM-2's bounded memory window is kept, so
   memory does not grow with the video. ``seg_hidden`` (E, H); ``key_frame_ids``: the
   frames the MLLM saw (their masks come from both heads + fusion + re-prompting and are
   written to SAM-2's memory as conditioning frames); every other frame is tracked by SAM-2
   memory attention. Each item is a dict ``frame_idx``, ``frame_name``, ``masks`` (E, H, W)
   bool at the frame's resolution (or ``ori_shape``), ``scores`` (E,), ``logits`` (E, 1, h', w')
   SAM-2 low-res logits and ``is_key_frame``.

``key_frame_indices(num_frames, num_key_frames, strategy)`` gives the documented key frames:
``'first'`` (Sa2VA: frames 0..k-1) or ``'uniform'`` (k frames evenly spread, first and last
included); a video shorter than k uses all its frames.

Training (``model.loss`` on a batch with ``frame_sample_idx``): every video sample brings T
frames (5 by default), every ``[SEG]`` prompts each of its video's frames. ``video_train``
``mode='per_frame'`` (Sa2VA): each frame decoded as an image, the branch losses averaged over
all frames; ``mode='memory'``: frame 0 is the key frame (both heads, fusion, losses as for
images) and frames 1..T-1 are tracked through SAM-2 memory with the visual head
(``loss_mask_track``), which also trains the memory modules when they are not frozen. An
image sample in the same batch is a 1-frame video, so image and video data mix in one batch.
"""
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from desa2va_mm.registry import MODELS

VIDEO_TRAIN_MODES = ('per_frame', 'memory')


def key_frame_indices(num_frames: int, num_key_frames: int = 5,
                      strategy: str = 'first') -> List[int]:
    """Indices of the frames the MLLM reads (the pipeline's ``select_key_frames`` rule).

    Args:
        num_frames: Video length (>= 1).
        num_key_frames: k.
        strategy: ``'first'``: ``0..k-1`` (Sa2VA); ``'uniform'``: ``round(linspace(0, T-1,
            k))``, first and last frame included. Videos shorter than k use every frame.

    Returns:
        Sorted, distinct frame indices.
    """
    from desa2va_mm.datasets.transforms.sample_video_frames import select_key_frames
    return select_key_frames(num_frames, num_key_frames, strategy).tolist()


def encode_rle(masks: np.ndarray) -> List[dict]:
    """(E, H, W) bool masks -> E COCO RLE dicts with ``str`` counts (JSON-ready)."""
    from pycocotools import mask as mask_util
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle['counts'] = rle['counts'].decode('utf-8')
        rle['size'] = [int(s) for s in rle['size']]
    return rles


def iter_video_frames(frames: Iterable, video_id: str = 'video',
                      frame_names: Optional[Sequence[str]] = None) -> Iterator[np.ndarray]:
    """Read frames one at a time; errors name the video and the frame.

    Args:
        frames: Iterable of (H, W, 3) uint8 BGR arrays or image file paths.
        video_id: Name used in error messages.
        frame_names: Names of the frames for error messages (default: their index).
    """
    from desa2va_mm.datasets.video_io import read_frame
    it = iter(frames)
    idx = 0
    while True:
        name = frame_names[idx] if frame_names is not None and idx < len(frame_names) \
            else None
        try:
            frame = next(it)
        except StopIteration:
            return
        except (FileNotFoundError, ValueError, IndexError):
            raise  # frame sources already name the video and the frame
        except Exception as err:  # a decoder failing mid-stream
            raise RuntimeError(f'video {video_id!r}: cannot read frame {idx}'
                               f'{f" ({name!r})" if name else ""}: {err}') from err
        if isinstance(frame, (str, os.PathLike)):
            frame = read_frame(os.fspath(frame), video_id, idx, name)
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
            raise ValueError(f'video {video_id!r}: frame {idx}'
                             f'{f" ({name!r})" if name else ""} has shape {frame.shape}, '
                             f'expected (H, W, 3)')
        yield frame
        idx += 1


class VideoSegmentationMixin:
    """Video inference / training on top of DeSa2VA's image path (see module docstring).

    Uses from the model: ``grounding_encoder`` (its ``sam2``), ``mllm``, ``_decode_heads``,
    ``_prompt``, the heads, ``data_preprocessor`` (frame normalisation), loss modules.
    """

    # ------------------------------------------------------------------ construction
    def _init_video(self, video_tracker: Optional[dict], video_train: Optional[dict]) -> None:
        tracker = dict(type='SAM2VideoTracker')
        tracker.update(video_tracker or {})
        self.video_tracker = MODELS.build(tracker)
        video_train = {'mode': 'per_frame', 'track_loss_weight': 1.0, **(video_train or {})}
        unknown = set(video_train) - {'mode', 'track_loss_weight'}
        if unknown:
            raise ValueError(f'unknown video_train keys {sorted(unknown)}; options: '
                             f"['mode', 'track_loss_weight']")
        if video_train['mode'] not in VIDEO_TRAIN_MODES:
            raise ValueError(f'video_train mode must be one of {VIDEO_TRAIN_MODES}, got '
                             f"{video_train['mode']!r}")
        self.video_train = video_train

    @property
    def _sam2(self):
        return self.grounding_encoder.sam2

    @property
    def _track_head(self):
        return self.visual_head if self.decoupled else self.mask_head

    def _track_prompt(self, seg_hidden: torch.Tensor) -> torch.Tensor:
        """The prompt token tracked frames may carry: ``h_v`` (DeSa2VA) or the Sa2VA MLP."""
        if self.decoupled:
            return self.neck(seg_hidden)[1]
        return self.text_hidden_fcs(seg_hidden)

    @staticmethod
    def is_video_batch(inputs: dict) -> bool:
        return bool(inputs.get('videos')) or 'frame_sample_idx' in inputs

    # ------------------------------------------------------------------ frames
    def _sam_frame(self, frame: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 BGR frame -> (1, 3, S, S) normalised SAM-2 input."""
        import mmcv
        size = self.grounding_encoder.image_size
        resized = mmcv.imresize(frame, (size, size))
        pre = self.data_preprocessor
        device = pre.mean.device
        image = torch.from_numpy(np.ascontiguousarray(resized)).to(device).permute(2, 0, 1)
        image = image.float()
        if getattr(pre, 'bgr_to_rgb', True):
            image = image[[2, 1, 0]]
        return ((image - pre.mean) / pre.std).unsqueeze(0)

    # ------------------------------------------------------------------ MLLM
    @torch.no_grad()
    def read_video_prompts(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                           attention_mask: torch.Tensor
                           ) -> Tuple[List[List[int]], List[Optional[torch.Tensor]]]:
        """Generate each expression's answer over the key frames.

        Args:
            pixel_values: (K, 3, s, s) key-frame tiles (one per frame).
            input_ids: (E, L) left-padded prompts.
            attention_mask: (E, L).

        Returns:
            E answers (generated ids) and E first-``[SEG]`` states (H,) or None.
        """
        image_embeds = self.mllm.encode_images(pixel_values).flatten(0, 1)
        num = input_ids.shape[0]
        image_embeds = image_embeds.repeat(num, 1)
        answers, seg_states = self.mllm.generate(input_ids, attention_mask, image_embeds,
                                                 max_new_tokens=self.max_new_tokens)
        return answers, [s[0] if len(s) else None for s in seg_states]

    # ------------------------------------------------------------------ tracking
    def _decode_key_frame(self, feats: dict, seg_hidden: torch.Tensor) -> dict:
        """Both heads + fusion + re-prompting on a key frame (image features, no memory)."""
        sam2 = self._sam2
        image_feats = self.video_tracker.unconditioned(sam2, feats)
        idx = torch.zeros(seg_hidden.shape[0], dtype=torch.long, device=seg_hidden.device)
        iters = self.reprompt_iters_train if self.training else self.reprompt_iters_test
        return self._decode_heads(image_feats, seg_hidden, idx, iters)

    def _decode_tracked_frame(self, frame_idx: int, feats: dict, bank, num_frames,
                              track_prompt: torch.Tensor) -> dict:
        """Visual head on memory-conditioned features of a non-key frame."""
        sam2, tracker = self._sam2, self.video_tracker
        image_feats = tracker.memory_conditioned(sam2, frame_idx, feats, bank, num_frames)
        num = track_prompt.shape[0]
        if tracker.track_with_seg_prompt:
            sparse = self._prompt(track_prompt)
        else:
            sparse = self.grounding_encoder.padding_prompts(num).to(track_prompt.dtype)
        idx = torch.arange(num, device=track_prompt.device)
        return self._track_head(image_feats, sparse, self.grounding_encoder.dense_prompts(num),
                                idx)

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
        """Stream a video: key frames decoded from ``[SEG]``, the rest tracked by memory.

        Args:
            frames: Iterable of (H, W, 3) uint8 BGR arrays or frame paths.
            seg_hidden: (E, H) one ``[SEG]`` state per tracked expression.
            key_frame_ids: Frames decoded from the ``[SEG]`` states (conditioning frames).
                The first frame of the stream is always decoded this way (SAM-2 cannot track
                before a conditioning frame).
            num_frames: Video length when known (SAM-2's object-pointer range).
            video_id: Name for error messages and results.
            frame_names: Frame names for results and error messages.
            ori_shape: (H, W) of the output masks; default each frame's own size.

        Yields:
            dict ``frame_idx``, ``frame_name``, ``masks`` (E, H, W) bool, ``scores`` (E,)
            (predicted IoU), ``logits`` (E, 1, 4h, 4w) low-res mask logits, ``is_key_frame``.
        """
        sam2, tracker = self._sam2, self.video_tracker
        keys = set(int(k) for k in key_frame_ids)
        bank = tracker.new_bank(sam2)
        self._last_memory_bank = bank  # for inspection (tests, benchmarks)
        num = seg_hidden.shape[0]
        track_prompt = self._track_prompt(seg_hidden) if num else None
        for frame_idx, frame in enumerate(iter_video_frames(frames, video_id, frame_names)):
            h, w = ori_shape if ori_shape is not None else frame.shape[:2]
            name = frame_names[frame_idx] if frame_names is not None and \
                frame_idx < len(frame_names) else str(frame_idx)
            is_key = frame_idx in keys or not bank.cond
            if num == 0:
                yield dict(frame_idx=frame_idx, frame_name=name, is_key_frame=is_key,
                           masks=torch.zeros(0, h, w, dtype=torch.bool),
                           scores=torch.zeros(0), logits=torch.zeros(0, 1, 1, 1))
                continue
            encoded = tracker.encode_frames(sam2, self._sam_frame(frame))
            del frame
            if is_key:
                out = self._decode_key_frame(tracker.select(encoded, 0, 1), seg_hidden)
                logits, head_out = out['final_logits'], out['visual_out']
                scores = out['iou_pred']
            else:
                head_out = self._decode_tracked_frame(
                    frame_idx, tracker.select(encoded, 0, num), bank, num_frames, track_prompt)
                logits, scores = head_out['low_res_logits'], head_out['iou_pred']
            present = tracker.object_presence(logits, head_out['object_score_logits'])
            logits = tracker.finalize_logits(logits, present)
            bank.add(frame_idx,
                     tracker.memory_entry(sam2, tracker.select(encoded, 0, num), logits,
                                          head_out, present),
                     is_cond=is_key)
            del encoded
            masks = F.interpolate(logits, size=(h, w), mode='bilinear',
                                  align_corners=False)[:, 0] > self.mask_threshold
            yield dict(frame_idx=frame_idx, frame_name=name, is_key_frame=is_key,
                       masks=masks.cpu(), scores=scores.float().cpu(), logits=logits.cpu())

    @torch.no_grad()
    def predict_video(self, inputs: dict, data_samples: list) -> list:
        """Video test step: answers over key frames, streamed tracking, RLE per frame."""
        tiles = torch.split(inputs['pixel_values'], list(inputs['num_tiles']))
        seq_idx = inputs['seq_image_idx'].tolist()
        for b, sample in enumerate(data_samples):
            meta = sample.metainfo
            rows = [m for m, v in enumerate(seq_idx) if v == b]
            answers, states = self.read_video_prompts(
                tiles[b], inputs['input_ids'][rows], inputs['attention_mask'][rows])
            valid = [i for i, s in enumerate(states) if s is not None]
            seg_hidden = torch.stack([states[i] for i in valid]) if valid else \
                inputs['pixel_values'].new_zeros(0, self.mllm.hidden_size)
            video_id = str(meta.get('video_id', b))
            frame_paths = meta['frame_paths']
            frame_names = list(meta.get('frame_names') or
                               [os.path.splitext(os.path.basename(p))[0] for p in frame_paths])
            h, w = meta['ori_shape'][:2]
            num_exp = len(rows)
            pred_rles: List[List[dict]] = [[] for _ in range(num_exp)]
            empty = None
            from desa2va_mm.datasets.video_io import open_frame_source
            source = open_frame_source(frame_paths, video_id=video_id, frame_names=frame_names)
            for frame in self.segment_video(source, seg_hidden, meta['key_frame_ids'],
                                            num_frames=len(frame_paths), video_id=video_id,
                                            frame_names=frame_names, ori_shape=(h, w)):
                rles = encode_rle(frame['masks'].numpy()) if valid else []
                for j, i in enumerate(valid):
                    pred_rles[i].append(rles[j])
                if len(valid) < num_exp:
                    if empty is None:
                        empty = encode_rle(np.zeros((1, h, w), dtype=bool))[0]
                    for i in set(range(num_exp)) - set(valid):
                        pred_rles[i].append(dict(empty))
            sample.set_metainfo(dict(
                pred_rles=pred_rles,
                pred_answers=[self.mllm.decode(a) for a in answers],
                frame_names=frame_names))
        return list(data_samples)

    # ------------------------------------------------------------------ training
    def _read_video_batch(self, inputs: dict) -> dict:
        """Encode every frame once (SAM-2) and run the teacher-forced MLLM pass."""
        sam2 = self._sam2
        frame_feats = self.video_tracker.encode_frames(sam2, inputs['images'])
        image_embeds = self.mllm.encode_images(inputs['pixel_values'])
        mllm_out = self.mllm(
            inputs['input_ids'], inputs['attention_mask'],
            self._image_tokens_per_sequence(image_embeds, inputs['num_tiles'],
                                            inputs['seq_image_idx']),
            labels=inputs.get('labels'))
        seg_mask = (inputs['input_ids'] == self.mllm.seg_token_id) & \
            inputs['attention_mask'].bool()
        seq_idx = seg_mask.nonzero()[:, 0]
        return dict(frame_feats=frame_feats, mllm_out=mllm_out,
                    seg_hidden=mllm_out['hidden_states'][seg_mask],
                    sample_idx=inputs['seq_image_idx'][seq_idx])

    def _pretrain_video_loss(self, inputs: dict,
                             data_samples: list) -> Dict[str, torch.Tensor]:
        """Phase 1 on videos: ``L_seg(D_t(F_t, [pad; e]), G_t)`` on every sampled frame t.

        The anchor ``e`` of each target is its expression's, the same on all of its video's
        frames; a batch without targets (pure video QA) decodes one zero anchor, weighted
        0, so every rank runs the same graph.
        """
        feats = self.video_tracker.encode_frames(self._sam2, inputs['images'])
        image_feats = self.video_tracker.unconditioned(self._sam2, feats)
        frame_sample_idx = inputs['frame_sample_idx']
        if 'expression_ids' not in inputs:
            anchor = self._dummy_anchor()
            out = self.text_head(image_feats, self._prompt(anchor),
                                 self.grounding_encoder.dense_prompts(1),
                                 frame_sample_idx.new_zeros(1))
            zero = out['low_res_logits'].sum() * 0.0
            return dict(loss_mask_text=zero)
        anchor = self._text_anchor(inputs)
        target_sample = inputs['target_image_idx']
        frames_of = [torch.nonzero(frame_sample_idx == b)[:, 0]
                     for b in range(len(data_samples))]
        reps, frame_idx, gts = [], [], []
        for b, sample in enumerate(data_samples):
            targets = torch.nonzero(target_sample == b)[:, 0]
            frames = frames_of[b]
            gt = sample.gt_instances.masks.to_tensor(torch.float32, anchor.device)
            if len(gt) != len(targets) * len(frames):
                raise ValueError(
                    f"{sample.metainfo.get('video_id', sample.metainfo.get('img_path', b))}: "
                    f'{len(gt)} target masks but {len(targets)} expressions x '
                    f'{len(frames)} frames')
            if len(targets) == 0:
                continue
            reps.append(anchor[targets].repeat_interleave(len(frames), dim=0))
            frame_idx.append(frames.repeat(len(targets)))
            gts.append(gt)
        anchors, frame_idx = torch.cat(reps), torch.cat(frame_idx)
        out = self.text_head(image_feats, self._prompt(anchors),
                             self.grounding_encoder.dense_prompts(len(anchors)), frame_idx)
        terms = self._seg_losses(out['low_res_logits'], torch.cat(gts))
        return dict(loss_mask_text=self.mask_loss_weights['text'] *
                    (terms['mask'] + terms['dice']))

    def loss_video(self, inputs: dict, data_samples: list) -> Dict[str, torch.Tensor]:
        """Losses of a batch of videos (and images as 1-frame videos); see module docs."""
        if self.train_phase == 'sam_pretrain':
            raise ValueError("train_phase='sam_pretrain' trains on images; video training "
                             "needs 'pretrain', 'decouple' or 'fusion'")
        if self.train_phase == 'pretrain':
            return self._pretrain_video_loss(inputs, data_samples)
        read = self._read_video_batch(inputs)
        seg_hidden, sample_idx = read['seg_hidden'], read['sample_idx']
        device = seg_hidden.device
        frame_sample_idx = inputs['frame_sample_idx']
        frames_of = [torch.nonzero(frame_sample_idx == b)[:, 0] for b in range(len(data_samples))]
        losses = {}
        if 'loss_lm' in read['mllm_out']:
            losses['loss_lm'] = read['mllm_out']['loss_lm'] * self.loss_lm_weight
        counts = torch.bincount(sample_idx, minlength=len(data_samples)).tolist()
        gts = []
        for b, sample in enumerate(data_samples):
            gt = sample.gt_instances.masks.to_tensor(torch.float32, device)
            if len(gt) != counts[b] * len(frames_of[b]):
                raise ValueError(
                    f"{sample.metainfo.get('video_id', sample.metainfo.get('img_path', b))}: "
                    f'{len(gt)} target masks but {counts[b]} [SEG] tokens x '
                    f'{len(frames_of[b])} frames')
            gts.append(gt.view(counts[b], len(frames_of[b]), *gt.shape[-2:]))
        if seg_hidden.shape[0] == 0:
            # No [SEG] anywhere (pure QA batch): keep every trained parameter in the graph.
            zero = read['mllm_out']['hidden_states'].sum() * 0.0
            losses['loss_mask_visual'] = zero
            return losses

        feats = read['frame_feats']
        tracker, sam2 = self.video_tracker, self._sam2
        branches: Dict[str, List[torch.Tensor]] = {}
        branch_gt: Dict[str, List[torch.Tensor]] = {}
        first_gt = []
        key_outs = []

        def collect(name, logits, gt):
            branches.setdefault(name, []).append(logits)
            branch_gt.setdefault(name, []).append(gt)

        offset = 0
        for b in range(len(data_samples)):
            n = counts[b]
            if n == 0:
                continue
            hidden = seg_hidden[offset:offset + n]
            offset += n
            frames, gt = frames_of[b], gts[b]  # gt: (n, T, h, w)
            num_t = len(frames)
            if self.video_train['mode'] == 'per_frame':
                rep = hidden.repeat_interleave(num_t, dim=0)
                frame_idx = frames.repeat(n)
                image_feats = tracker.unconditioned(sam2, feats)
                iters = self.reprompt_iters_train
                out = self._decode_heads(image_feats, rep, frame_idx, iters)
                flat_gt = gt.flatten(0, 1)
                for name in ('text', 'visual', 'fused', 'reprompt'):
                    key = f'{name}_logits'
                    if key in out:
                        collect(name, out[key], flat_gt)
                if 'final_logits' in out and not self.decoupled:
                    collect('mask', out['final_logits'], flat_gt)
                key_outs.append((out, torch.arange(n, device=device) * num_t))
                first_gt.append(gt[:, 0])
                continue
            # Memory mode: frame 0 is the key frame, later frames tracked through memory.
            bank = tracker.new_bank(sam2)
            track_prompt = None
            for t in range(num_t):
                frame_feats = tracker.select(feats, int(frames[t]), n)
                if t == 0:
                    out = self._decode_key_frame(tracker.select(feats, int(frames[t]), 1),
                                                 hidden)
                    for name in ('text', 'visual', 'fused', 'reprompt'):
                        if f'{name}_logits' in out:
                            collect(name, out[f'{name}_logits'], gt[:, 0])
                    if not self.decoupled:
                        collect('mask', out['final_logits'], gt[:, 0])
                    key_outs.append((out, torch.arange(n, device=device)))
                    first_gt.append(gt[:, 0])
                    logits, head_out = out['final_logits'], out['visual_out']
                    track_prompt = self._track_prompt(hidden)
                else:
                    head_out = self._decode_tracked_frame(t, frame_feats, bank, num_t,
                                                          track_prompt)
                    logits = head_out['low_res_logits']
                    collect('track', logits, gt[:, t])
                if t < num_t - 1:
                    present = tracker.object_presence(logits, head_out['object_score_logits'])
                    bank.add(t, tracker.memory_entry(sam2, frame_feats,
                                                     tracker.finalize_logits(logits, present),
                                                     head_out, present, detach=False),
                             is_cond=(t == 0))

        def seg(name):
            terms = self._seg_losses(torch.cat(branches[name]), torch.cat(branch_gt[name]))
            return terms['mask'] + terms['dice']

        if not self.decoupled:
            terms = self._seg_losses(torch.cat(branches['mask']), torch.cat(branch_gt['mask']))
            losses.update(loss_mask=terms['mask'], loss_dice=terms['dice'])
        else:
            w = self.mask_loss_weights
            for name in ('text', 'visual', 'fused', 'reprompt'):
                if name in branches and w[name] > 0:
                    losses[f'loss_mask_{name}'] = w[name] * seg(name)
        if 'track' in branches:
            losses['loss_mask_track'] = self.video_train['track_loss_weight'] * seg('track')
        if not self.decoupled:
            return losses

        # Adversarial / CLUB terms once per [SEG] (its first frame): the decoupled prompts
        # are the same on every frame.
        text_prompt = torch.cat([o['text_prompt'][rows] for o, rows in key_outs])
        visual_prompt = torch.cat([o['visual_prompt'][rows] for o, rows in key_outs])
        gt0 = torch.cat(first_gt)
        if self.adversarial_loss is not None:
            anchor = self._text_anchor(inputs)
            points = self._sample_points(gt0)
            with torch.no_grad():
                point_embeds = self.grounding_encoder.point_prompts(
                    points[:, None], torch.ones(len(points), 1, device=device))[:, 0]
            losses.update(self.adversarial_loss(text_prompt, visual_prompt, anchor.detach(),
                                                point_embeds))
        if self.club_loss is not None:
            losses.update(self.club_loss(text_prompt, visual_prompt))
        return losses
