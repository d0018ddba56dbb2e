"""The DeSa2VA model: InternVL reads, [SEG] states prompt SAM-2 mask heads."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from desa2va_mm.registry import MODELS
from desa2va_mm.utils.pretrained_sources import raise_on_frozen_weights_without_source
from desa2va_mm.utils.state_dict_check import raise_on_shape_mismatch
from .video_segmentation_mixin import VideoSegmentationMixin

PHASES = ('sam_pretrain', 'pretrain', 'decouple', 'fusion')


@MODELS.register_module()
class DeSa2VA(VideoSegmentationMixin, BaseModel):
    """Referring segmentation with an MLLM and SAM-2 (docs/method.md §1-11).

    SAM-2 encodes each image once (``grounding_encoder``); InternVL reads the image tiles and
    the conversation (``mllm``); the last-layer state ``h`` at each ``[SEG]`` prompts SAM-2.

    * **Sa2VA baseline** (``neck=None``): ``seg_projector`` (Sa2VA's ``text_hidden_fcs``,
      ``h -> H -> C``) gives one prompt token, decoded by ``mask_head`` after SAM-2's two
      padding tokens. Losses ``loss_lm``, ``loss_mask`` (BCE), ``loss_dice``.
    * **DeSa2VA** (``neck=SegTokenDecoupler``): ``h_t, h_v = W_t h, W_v h``;
      ``M_t = D_t(F, [pad; h_t])`` (``text_head``), ``M_v = D_v(F, [pad; h_v])``
      (``visual_head``), ``M_f = fusion(M_t, M_v)``, then ``k`` re-prompting iterations
      ``M_r = D_v(F, [pad; h_v], P(clamp(M_f)))``. Losses ``loss_lm``, ``loss_mask_text``,
      ``loss_mask_visual``, ``loss_mask_fused``, ``loss_mask_reprompt`` (each
      ``L_seg = loss_mask + loss_dice``), ``loss_adv`` (gradient reversal + discriminators
      against the text anchor ``e`` and SAM-2 point embeddings), ``loss_mi`` and
      ``loss_club_est`` (CLUB), each switchable.

    ``train_phase``: ``'sam_pretrain'`` (tiny configs only: the heads learn SAM-2's own
    task, one positive click inside each ground-truth mask -> that mask, standing in for the
    pretrained SAM-2 that real configs load), ``'pretrain'`` (phase 1: ``L_seg(D_t(F, [pad; e]), G)`` only, no LLM
    forward beyond the embedding lookup), ``'decouple'`` (phase 2) or ``'fusion'`` (phase 3:
    re-prompting in training). Which parameters train is set by the sub-modules' ``freeze``
    flags and ``frozen_modules``.

    ``predict`` generates each sentence's answer, decodes its first ``[SEG]`` and returns one
    ``DetDataSample`` per image with ``pred_instances.masks`` (N, H, W) at original
    resolution in sentence order (no ``[SEG]``: an empty mask) and ``scores``.

    Args:
        mllm: ``InternVLMLLM`` config.
        grounding_encoder: ``SAM2Grounding`` config.
        neck: ``SegTokenDecoupler`` config (DeSa2VA) or None (Sa2VA baseline).
        seg_projector: Baseline [SEG] -> prompt mapping (default ``Sa2VAProjection``).
        mask_head: Baseline head (``SAM2MaskHead``).
        text_head: ``SAM2TextHead`` config (DeSa2VA).
        visual_head: ``SAM2VisualHead`` config (DeSa2VA).
        fusion: ``MaskFusion`` config, or None (no fusion: the visual mask is final and is the
            one re-prompted).
        adversarial_loss: ``ModalityAdversarialLoss`` config or None.
        club_loss: ``CLUBLoss`` config or None.
        loss_mask: Per-pixel mask loss (mmdet ``CrossEntropyLoss`` with sigmoid; Sa2VA x2.0).
        loss_dice: Dice loss (mmdet ``DiceLoss``; Sa2VA x0.5).
        mask_loss_weights: Weights of the triple (+ re-prompt) supervision,
            ``dict(text=, visual=, fused=, reprompt=)``; 0 switches a term off.
        loss_lm_weight: Weight of the language-model loss.
        train_phase: One of ``'sam_pretrain'``, ``'pretrain'``, ``'decouple'``,
            ``'fusion'``.
        frozen_modules: Attribute paths frozen on top of the sub-modules' own flags, e.g.
            ``['text_head', 'neck.anchor_proj']`` in phase 2.
        reprompt_iters_train: Re-prompting iterations in training (phase 3: >= 1).
        reprompt_iters_test: Re-prompting iterations at val / test (default 1).
        reprompt_iou_threshold: Skip re-prompting a mask whose predicted IoU is below this.
        num_point_samples: Points sampled inside each ground-truth mask for ``d_v``'s real
            visual prompts.
        init_head_from_sam2: Initialise every head's decoder from SAM-2's decoder.
        max_new_tokens: Generation budget per sentence at test.
        mask_threshold: Logit threshold of the final masks.
        data_preprocessor: ``ReferringDataPreprocessor`` config
            (``VideoReferringDataPreprocessor`` for video data).
        video_tracker: ``SAM2VideoTracker`` config (video tracking options).
        video_train: Video training, ``dict(mode='per_frame' | 'memory',
            track_loss_weight=1.0)`` (see ``VideoSegmentationMixin``).
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 *,
                 mllm: dict,
                 grounding_encoder: dict,
                 neck: Optional[dict] = None,
                 seg_projector: Optional[dict] = None,
                 mask_head: Optional[dict] = None,
                 text_head: Optional[dict] = None,
                 visual_head: Optional[dict] = None,
                 fusion: Optional[dict] = None,
                 adversarial_loss: Optional[dict] = None,
                 club_loss: Optional[dict] = None,
                 loss_mask: Optional[dict] = None,
                 loss_dice: Optional[dict] = None,
                 mask_loss_weights: Optional[dict] = None,
                 loss_lm_weight: float = 1.0,
                 train_phase: str = 'decouple',
                 frozen_modules: Sequence[str] = (),
                 reprompt_iters_train: int = 0,
                 reprompt_iters_test: int = 1,
                 reprompt_iou_threshold: Optional[float] = None,
                 num_point_samples: int = 1,
                 init_head_from_sam2: bool = True,
                 max_new_tokens: int = 16,
                 mask_threshold: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 video_tracker: Optional[dict] = None,
                 video_train: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ReferringDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here, not by BaseModel, which would look in mmengine's root registry
            # when no default scope is set.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if train_phase not in PHASES:
            raise ValueError(f'train_phase must be one of {PHASES}, got {train_phase!r}')
        self.mllm = MODELS.build(mllm)
        self.grounding_encoder = MODELS.build(grounding_encoder)
        self.data_preprocessor.pad_token_id = self.mllm.tokenizer.pad_token_id
        hidden, prompt_dim = self.mllm.hidden_size, self.grounding_encoder.hidden_dim

        self.decoupled = neck is not None
        if self.decoupled:
            if text_head is None or visual_head is None:
                raise ValueError('DeSa2VA with a neck needs text_head and visual_head')
            if mask_head is not None or seg_projector is not None:
                raise ValueError('mask_head / seg_projector belong to the Sa2VA baseline '
                                 '(neck=None); DeSa2VA uses text_head and visual_head')
            neck = dict(neck)
            neck.setdefault('in_channels', hidden)
            neck.setdefault('out_channels', prompt_dim)
            self.neck = MODELS.build(neck)
            self.text_head = self._build_head(text_head, init_head_from_sam2)
            self.visual_head = self._build_head(visual_head, init_head_from_sam2)
            self.fusion = MODELS.build(fusion) if fusion is not None else None
            self.adversarial_loss = None
            if adversarial_loss is not None:
                adversarial_loss = dict(adversarial_loss)
                adversarial_loss.setdefault('in_channels', prompt_dim)
                self.adversarial_loss = MODELS.build(adversarial_loss)
            self.club_loss = None
            if club_loss is not None:
                club_loss = dict(club_loss)
                club_loss.setdefault('x_dim', prompt_dim)
                club_loss.setdefault('y_dim', prompt_dim)
                self.club_loss = MODELS.build(club_loss)
        else:
            if mask_head is None:
                raise ValueError('the Sa2VA baseline (neck=None) needs mask_head')
            if train_phase == 'pretrain':
                raise ValueError("train_phase='pretrain' needs the DeSa2VA neck and text head")
            for name, cfg in (('text_head', text_head), ('visual_head', visual_head),
                              ('fusion', fusion), ('adversarial_loss', adversarial_loss),
                              ('club_loss', club_loss)):
                if cfg is not None:
                    raise ValueError(f'{name} needs neck=SegTokenDecoupler (DeSa2VA)')
            seg_projector = dict(seg_projector or dict(type='Sa2VAProjection'))
            seg_projector.setdefault('in_channels', hidden)
            seg_projector.setdefault('out_channels', prompt_dim)
            # Attribute name kept from Sa2VA so its checkpoints map key for key.
            self.text_hidden_fcs = MODELS.build(seg_projector)
            self.mask_head = self._build_head(mask_head, init_head_from_sam2)
            self.fusion = None

        self.loss_mask = MODELS.build(loss_mask or dict(
            type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=2.0))
        self.loss_dice = MODELS.build(loss_dice or dict(
            type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
            naive_dice=True, eps=1.0, loss_weight=0.5))
        weights = dict(text=1.0, visual=1.0, fused=1.0, reprompt=1.0)
        unknown = set(mask_loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'unknown mask_loss_weights keys {sorted(unknown)}; options: '
                             f'{sorted(weights)}')
        weights.update(mask_loss_weights or {})
        self.mask_loss_weights = weights
        self.loss_lm_weight = loss_lm_weight
        self.train_phase = train_phase
        self.reprompt_iters_train = reprompt_iters_train
        self.reprompt_iters_test = reprompt_iters_test
        self.reprompt_iou_threshold = reprompt_iou_threshold
        self.num_point_samples = num_point_samples
        self.max_new_tokens = max_new_tokens
        self.mask_threshold = mask_threshold
        self.frozen_modules = tuple(frozen_modules)
        self._init_video(video_tracker, video_train)
        for path in self.frozen_modules:
            self._module_at(path).requires_grad_(False)
        # A mis-shaped checkpoint entry is an error naming both shapes (non-strict loads,
        # e.g. MMEngine's load_from, would only warn and keep the model's value).
        self.register_load_state_dict_pre_hook(raise_on_shape_mismatch)
        # A trainable-only checkpoint needs the frozen weights' pretrained files.
        self.register_load_state_dict_pre_hook(raise_on_frozen_weights_without_source)

    def pretrained_sources(self) -> Dict[str, tuple]:
        """State-dict prefix -> (file the frozen weights come from or None, config key)."""
        return {'mllm.': (self.mllm.pretrained, 'model.mllm.pretrained'),
                'grounding_encoder.': (self.grounding_encoder.checkpoint,
                                       'model.grounding_encoder.checkpoint')}

    # ------------------------------------------------------------------ construction
    def _build_head(self, cfg: dict, init_from_sam2: bool):
        cfg = dict(cfg)
        for key, value in self.grounding_encoder.mask_decoder_kwargs().items():
            cfg.setdefault(key, value)
        head = MODELS.build(cfg)
        if init_from_sam2:
            head.init_from_decoder(self.grounding_encoder.mask_decoder)
        return head

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
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f"Invalid mode {mode!r}; options: 'loss', 'predict', 'tensor'")

    # ------------------------------------------------------------------ shared pieces
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

    def _prompt(self, tokens: torch.Tensor) -> torch.Tensor:
        """Sparse prompts ``[pad; pad; token]`` (N, 3, C) for (N, C) tokens."""
        pad = self.grounding_encoder.padding_prompts(tokens.shape[0]).to(tokens.dtype)
        return torch.cat([pad, tokens.unsqueeze(1)], dim=1)

    def _decode_heads(self, image_feats: dict, seg_hidden: torch.Tensor,
                      image_idx: torch.Tensor, reprompt_iters: int) -> Dict[str, torch.Tensor]:
        """[SEG] states (N, H) -> every branch's low-res logits (N, 1, h, w)."""
        n = seg_hidden.shape[0]
        dense = self.grounding_encoder.dense_prompts(n)
        if not self.decoupled:
            out = self.mask_head(image_feats, self._prompt(self.text_hidden_fcs(seg_hidden)),
                                 dense, image_idx)
            return dict(final_logits=out['low_res_logits'], low_res_logits=out['low_res_logits'],
                        iou_pred=out['iou_pred'], visual_out=out)
        text_prompt, visual_prompt = self.neck(seg_hidden)
        out_t = self.text_head(image_feats, self._prompt(text_prompt), dense, image_idx)
        visual_sparse = self._prompt(visual_prompt)
        out_v = self.visual_head(image_feats, visual_sparse, dense, image_idx)
        result = dict(text_prompt=text_prompt, visual_prompt=visual_prompt,
                      text_logits=out_t['low_res_logits'],
                      visual_logits=out_v['low_res_logits'], iou_pred=out_v['iou_pred'],
                      visual_out=out_v)
        final = out_v['low_res_logits']
        if self.fusion is not None:
            fused = self.fusion(out_t['low_res_logits'], out_v['low_res_logits'])
            result.update(fused_logits=fused['fused_logits'], fusion_gate=fused['gate'])
            final = fused['fused_logits']
        first_iou = out_v['iou_pred']
        for _ in range(reprompt_iters):
            # The prompt is the previous mask as SAM-2 sees a mask input: detached, clamped.
            dense_r = self.grounding_encoder.dense_prompts(n, final.detach())
            out_r = self.visual_head(image_feats, visual_sparse, dense_r, image_idx)
            reprompted = out_r['low_res_logits']
            if self.reprompt_iou_threshold is not None and not self.training:
                keep = (first_iou < self.reprompt_iou_threshold).view(-1, 1, 1, 1)
                reprompted = torch.where(keep, final, reprompted)
            result['reprompt_logits'] = reprompted
            result['iou_pred'] = out_r['iou_pred']
            result['visual_out'] = out_r  # the last visual decode (video memory pointer)
            final = reprompted
        result['final_logits'] = final
        return result

    def _read(self, inputs: dict) -> dict:
        """SAM-2 features + teacher-forced MLLM pass: [SEG] states in sequence order."""
        image_feats = self.grounding_encoder.encode_image(inputs['images'])
        image_embeds = self.mllm.encode_images(inputs['pixel_values'])
        mllm_out = self.mllm(
            inputs['input_ids'], inputs['attention_mask'],
            self._image_tokens_per_sequence(image_embeds, inputs['num_tiles'],
                                            inputs['seq_image_idx']),
            labels=inputs.get('labels'))
        seg_mask = (inputs['input_ids'] == self.mllm.seg_token_id) & \
            inputs['attention_mask'].bool()
        seq_idx = seg_mask.nonzero()[:, 0]
        return dict(image_feats=image_feats, mllm_out=mllm_out,
                    seg_hidden=mllm_out['hidden_states'][seg_mask],
                    image_idx=inputs['seq_image_idx'][seq_idx])

    def _text_anchor(self, inputs: dict) -> torch.Tensor:
        """``e`` (N, C) for every target from its expression's frozen input embeddings."""
        if 'expression_ids' not in inputs:
            raise KeyError('the text anchor needs expression_ids: use TokenizeConversation '
                           'and PackReferringInputs from desa2va_mm')
        with torch.no_grad():
            embeds = self.mllm.input_embeddings()(inputs['expression_ids'])
        return self.neck.text_anchor(embeds.detach(), inputs['expression_mask'])

    def _dummy_anchor(self) -> torch.Tensor:
        """A zero text anchor (1, C) computed through ``W_e`` (batches with no target)."""
        weight = self.neck.anchor_proj.weight
        embeds = weight.new_zeros(1, 1, self.mllm.hidden_size)
        mask = torch.ones(1, 1, dtype=torch.long, device=weight.device)
        return self.neck.text_anchor(embeds, mask) * 0

    def _forward(self, inputs: dict, data_samples=None) -> Dict[str, torch.Tensor]:
        """Teacher-forced pass: every branch's low-res logits for every target."""
        if self.train_phase == 'pretrain':
            image_feats = self.grounding_encoder.encode_image(inputs['images'])
            dummy = 'expression_ids' not in inputs
            if dummy:
                # No referring target in the batch (pure QA): one zero anchor through W_e
                # and D_t, weighted 0 by the loss, so every rank runs the same graph.
                anchor, image_idx = self._dummy_anchor(), \
                    inputs['seq_image_idx'][:1]
            else:
                anchor, image_idx = self._text_anchor(inputs), inputs['target_image_idx']
            out = self.text_head(image_feats, self._prompt(anchor),
                                 self.grounding_encoder.dense_prompts(anchor.shape[0]),
                                 image_idx)
            return dict(image_feats=image_feats, image_idx=image_idx, text_anchor=anchor,
                        text_logits=out['low_res_logits'], final_logits=out['low_res_logits'],
                        iou_pred=out['iou_pred'], dummy_seg=dummy)
        read = self._read(inputs)
        seg_hidden, image_idx = read['seg_hidden'], read['image_idx']
        out = dict(read['mllm_out'])
        if seg_hidden.shape[0] == 0:
            # No [SEG] in the batch (e.g. pure QA): decode one zero state and weight it 0 so
            # every rank runs the same graph (DDP needs every trained parameter used).
            seg_hidden = read['mllm_out']['hidden_states'][:1, 0] * 0
            image_idx = inputs['seq_image_idx'][:1]
            out['dummy_seg'] = True
        iters = self.reprompt_iters_train if self.training else self.reprompt_iters_test
        out.update(self._decode_heads(read['image_feats'], seg_hidden, image_idx, iters))
        out.update(image_feats=read['image_feats'], seg_hidden=seg_hidden, image_idx=image_idx)
        # Sa2VA-compatible alias of the final logits.
        out['low_res_logits'] = out['final_logits']
        return out

    # ------------------------------------------------------------------ loss
    def _gt_masks(self, data_samples: List[DetDataSample], image_idx: torch.Tensor,
                  device) -> torch.Tensor:
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

    def _seg_losses(self, logits: torch.Tensor, gt: torch.Tensor) -> Dict[str, torch.Tensor]:
        pred = F.interpolate(logits, size=gt.shape[-2:], mode='bilinear',
                             align_corners=False).squeeze(1)
        return dict(mask=self.loss_mask(pred, gt), dice=self.loss_dice(pred, gt))

    def _sample_points(self, gt: torch.Tensor) -> torch.Tensor:
        """Uniform random points inside each mask, (N * k, 2) xy at the SAM-2 input size."""
        n, h, w = gt.shape
        scale = self.grounding_encoder.image_size / torch.tensor([w, h], device=gt.device)
        flat = gt.flatten(1)
        weights = flat + (flat.sum(1, keepdim=True) == 0).float()  # empty mask: anywhere
        idx = torch.multinomial(weights, self.num_point_samples, replacement=True)
        xy = torch.stack([idx % w, idx // w], dim=-1).float() + 0.5
        return (xy * scale).reshape(-1, 2)

    def _click_loss(self, inputs: dict,
                    data_samples: List[DetDataSample]) -> Dict[str, torch.Tensor]:
        """SAM-2's task: one positive click inside each target mask must give that mask."""
        image_feats = self.grounding_encoder.encode_image(inputs['images'])
        counts = [len(s.gt_instances.masks) for s in data_samples]
        device = inputs['images'].device
        image_idx = torch.repeat_interleave(torch.arange(len(counts), device=device),
                                            torch.tensor(counts, device=device))
        gt = self._gt_masks(data_samples, image_idx, device)
        points = self._sample_points(gt)[::self.num_point_samples]
        sparse = self.grounding_encoder.point_prompts(
            points[:, None], torch.ones(len(points), 1, device=device))
        dense = self.grounding_encoder.dense_prompts(len(points))
        heads = [('mask', self.mask_head)] if not self.decoupled else [
            ('text', self.text_head), ('visual', self.visual_head)]
        losses = {}
        for name, head in heads:
            terms = self._seg_losses(head(image_feats, sparse, dense, image_idx)
                                     ['low_res_logits'], gt)
            losses[f'loss_click_{name}'] = terms['mask'] + terms['dice']
        return losses

    def loss(self, inputs: dict, data_samples: List[DetDataSample]) -> Dict[str, torch.Tensor]:
        if self.is_video_batch(inputs):
            return self.loss_video(inputs, data_samples)
        if self.train_phase == 'sam_pretrain':
            return self._click_loss(inputs, data_samples)
        out = self._forward(inputs, data_samples)
        losses = {}
        if 'loss_lm' in out:
            losses['loss_lm'] = out['loss_lm'] * self.loss_lm_weight
        dummy = out.get('dummy_seg', False)
        gt = None if dummy else self._gt_masks(data_samples, out['image_idx'],
                                               out['final_logits'].device)

        def seg(logits):
            if dummy:
                zero = logits.sum() * 0.0
                return dict(mask=zero, dice=zero)
            return self._seg_losses(logits, gt)

        if not self.decoupled:
            terms = seg(out['final_logits'])
            losses.update(loss_mask=terms['mask'], loss_dice=terms['dice'])
            return losses
        w = self.mask_loss_weights
        branches = [('text', 'text_logits')]
        if self.train_phase != 'pretrain':
            branches += [('visual', 'visual_logits'), ('fused', 'fused_logits'),
                         ('reprompt', 'reprompt_logits')]
        for name, key in branches:
            if key in out and w[name] > 0:
                terms = seg(out[key])
                losses[f'loss_mask_{name}'] = w[name] * (terms['mask'] + terms['dice'])
        if self.train_phase == 'pretrain':
            return losses
        text_prompt, visual_prompt = out['text_prompt'], out['visual_prompt']
        if dummy:
            text_prompt, visual_prompt = text_prompt * 0, visual_prompt * 0
        if self.adversarial_loss is not None:
            # A batch without [SEG] (pure QA) has no expression: no real text prompts.
            anchor = text_prompt.new_zeros(0, text_prompt.shape[-1]) if dummy else \
                self._text_anchor(inputs)
            points = text_prompt.new_zeros(0, 2) if dummy else self._sample_points(gt)
            with torch.no_grad():
                point_embeds = self.grounding_encoder.point_prompts(
                    points[:, None], torch.ones(len(points), 1, device=points.device))[:, 0]
            adv = self.adversarial_loss(text_prompt, visual_prompt, anchor.detach(),
                                        point_embeds)
            losses.update(adv)
            if dummy:
                losses['loss_adv'] = losses['loss_adv'] * 0
        if self.club_loss is not None:
            club = self.club_loss(text_prompt, visual_prompt)
            if dummy:
                club = {k: v * 0 if k.startswith('loss') else v for k, v in club.items()}
            losses.update(club)
        return losses

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: List[DetDataSample]) -> List[DetDataSample]:
        if self.is_video_batch(inputs):
            return self.predict_video(inputs, data_samples)
        device = inputs['images'].device
        if self.train_phase == 'pretrain':
            # A phase-1 model has no trained [SEG] path: evaluate the text decoder on the
            # ground-truth expression's anchor (what phase 1 optimises).
            out = self._forward(inputs)
            n = out['final_logits'].shape[0]
            logits = dict(enumerate(out['final_logits']))
            iou = dict(enumerate(out['iou_pred']))
            answers = [[] for _ in range(n)]
            seq_image_idx = inputs['target_image_idx']
        else:
            image_feats = self.grounding_encoder.encode_image(inputs['images'])
            image_embeds = self.mllm.encode_images(inputs['pixel_values'])
            seq_image_idx = inputs['seq_image_idx']
            answers, seg_states = self.mllm.generate(
                inputs['input_ids'], inputs['attention_mask'],
                self._image_tokens_per_sequence(image_embeds, inputs['num_tiles'],
                                                seq_image_idx),
                max_new_tokens=self.max_new_tokens)
            # The first [SEG] of each answer decides its mask (one mask per sentence).
            rows = [i for i, s in enumerate(seg_states) if len(s) > 0]
            logits, iou = {}, {}
            if rows:
                hidden = torch.stack([seg_states[i][0] for i in rows])
                out = self._decode_heads(image_feats, hidden, seq_image_idx[rows],
                                         self.reprompt_iters_test)
                logits = dict(zip(rows, out['final_logits']))
                iou = dict(zip(rows, out['iou_pred']))

        seq_of_sample = [[] for _ in data_samples]
        for m, b in enumerate(seq_image_idx.tolist()):
            seq_of_sample[b].append(m)
        for b, sample in enumerate(data_samples):
            h, w = sample.metainfo['ori_shape'][:2]
            masks, scores, texts = [], [], []
            for m in seq_of_sample[b]:
                texts.append(self.mllm.decode(answers[m]))
                if m in logits:
                    logit = F.interpolate(logits[m][None], size=(h, w), mode='bilinear',
                                          align_corners=False)[0, 0]
                    masks.append(logit > self.mask_threshold)
                    scores.append(iou[m].float())
                else:
                    masks.append(torch.zeros(h, w, dtype=torch.bool, device=device))
                    scores.append(torch.zeros((), device=device))
            pred = InstanceData()
            pred.masks = torch.stack(masks) if masks else torch.zeros(
                0, h, w, dtype=torch.bool, device=device)
            pred.scores = torch.stack(scores) if scores else torch.zeros(0, device=device)
            sample.pred_instances = pred
            sample.set_metainfo(dict(pred_answers=texts))
        return list(data_samples)
