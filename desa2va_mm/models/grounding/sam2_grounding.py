"""SAM-2 as the grounding encoder: image features (encoded once) and prompt embeddings."""
import os
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS


def _hydra_value(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return 'null'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(_hydra_value(v) for v in value) + ']'
    return str(value)


def flatten_overrides(overrides: dict, prefix: str = 'model') -> List[str]:
    """Turn a nested dict into Hydra ``++key.path=value`` overrides of a sam2 config."""
    flat = []
    for key, value in overrides.items():
        path = f'{prefix}.{key}'
        if isinstance(value, dict):
            flat.extend(flatten_overrides(value, path))
        else:
            flat.append(f'++{path}={_hydra_value(value)}')
    return flat


@MODELS.register_module()
class SAM2Grounding(BaseModule):
    """A ``sam2`` ``SAM2Base`` built from sam2's own Hydra configs.

    Encodes each image once; every expression and every mask head reads the same
    features. The image encoder, prompt encoder and memory modules stay frozen by default
    (Sa2VA); the model's mask heads own their decoders.

    Args:
        config: sam2 config name, e.g. ``'configs/sam2/sam2_hiera_l.yaml'`` (SAM-2.0, the
            one Sa2VA checkpoints use) or ``'configs/sam2.1/sam2.1_hiera_l.yaml'``.
        checkpoint: Local sam2 ``.pt`` file (``{'model': state_dict}``) loaded strictly,
            or None for random weights.
        overrides: Nested dict overriding config fields under ``model`` (the tiny configs
            shrink dims this way), e.g. ``dict(image_size=128)``.
        freeze_image_encoder: Freeze the Hiera trunk + FPN neck.
        freeze_prompt_encoder: Freeze the prompt encoder.
        freeze_memory: Freeze memory attention / encoder and the memory embeddings.
        cache_pos_embed: Build sam2's Hiera trunk as :class:`PosEmbedCacheHiera`, which
            computes its positional embedding once per input size instead of on every
            frame while no gradient flows into it (same parameters, same outputs).
        init_cfg: Unused (weights come from the checkpoint or sam2's init).
    """

    def __init__(self,
                 *,
                 config: str = 'configs/sam2/sam2_hiera_l.yaml',
                 checkpoint: Optional[str] = None,
                 overrides: Optional[dict] = None,
                 freeze_image_encoder: bool = True,
                 freeze_prompt_encoder: bool = True,
                 freeze_memory: bool = True,
                 cache_pos_embed: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        import sam2  # noqa: F401  (initialises Hydra's config module)
        from hydra import compose
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        from .pos_embed_cache_hiera import POS_EMBED_CACHE_HIERA_TARGET, SAM2_HIERA_TARGET

        cfg = compose(config_name=config, overrides=flatten_overrides(overrides or {}))
        OmegaConf.resolve(cfg)
        trunk = cfg.model.image_encoder.trunk
        if cache_pos_embed and trunk.get('_target_') == SAM2_HIERA_TARGET:
            trunk._target_ = POS_EMBED_CACHE_HIERA_TARGET
        self.sam2 = instantiate(cfg.model, _recursive_=True)
        self.config_name = config
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.load_sam2_checkpoint(checkpoint)
        self.sam2._is_init = True

        self.sam2.image_encoder.requires_grad_(not freeze_image_encoder)
        self.sam2.sam_prompt_encoder.requires_grad_(not freeze_prompt_encoder)
        memory = [self.sam2.memory_attention, self.sam2.memory_encoder]
        for module in memory:
            module.requires_grad_(not freeze_memory)
        for name in ('maskmem_tpos_enc', 'no_mem_embed', 'no_mem_pos_enc', 'no_obj_ptr',
                     'no_obj_embed_spatial'):
            param = getattr(self.sam2, name, None)
            if isinstance(param, nn.Parameter):
                param.requires_grad_(not freeze_memory)
        # The stock decoder is the template the heads copy; it is not used for images.
        self.sam2.sam_mask_decoder.requires_grad_(False)
        for name in ('obj_ptr_proj', 'obj_ptr_tpos_proj', 'mask_downsample'):
            module = getattr(self.sam2, name, None)
            if isinstance(module, nn.Module):
                module.requires_grad_(not freeze_memory)

    def load_sam2_checkpoint(self, checkpoint: str) -> None:
        """Strictly load a sam2 ``.pt`` checkpoint; errors name every bad key."""
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f'SAM2Grounding: checkpoint {checkpoint!r} does not exist')
        state = torch.load(checkpoint, map_location='cpu', weights_only=True)
        state = state.get('model', state)
        own = self.sam2.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                      for k in own if k in state and state[k].shape != own[k].shape]
        if missing or unexpected or mismatched:
            raise RuntimeError(
                f'SAM-2 checkpoint {checkpoint} does not match config {self.config_name} '
                f'(SAM-2.0 checkpoints need configs/sam2/*, 2.1 need configs/sam2.1/*):\n'
                f'  missing keys: {missing[:20]}\n  unexpected keys: {unexpected[:20]}\n'
                f'  shape mismatches: {mismatched[:20]}')
        self.sam2.load_state_dict(state, strict=True)

    # ------------------------------------------------------------------ properties
    @property
    def hidden_dim(self) -> int:
        """C: SAM-2 prompt / decoder embedding dimension (256 for hiera-L)."""
        return self.sam2.hidden_dim

    @property
    def image_size(self) -> int:
        return self.sam2.image_size

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.sam2.sam_prompt_encoder

    @property
    def mask_decoder(self) -> nn.Module:
        """The pretrained decoder the mask heads are initialised from."""
        return self.sam2.sam_mask_decoder

    def mask_decoder_kwargs(self) -> dict:
        """Constructor arguments of a decoder identical to ``SAM2Base._build_sam_heads``."""
        s = self.sam2
        return dict(
            transformer_dim=s.sam_prompt_embed_dim,
            use_high_res_features=s.use_high_res_features_in_sam,
            iou_prediction_use_sigmoid=s.iou_prediction_use_sigmoid,
            pred_obj_scores=s.pred_obj_scores,
            pred_obj_scores_mlp=s.pred_obj_scores_mlp,
            use_multimask_token_for_obj_ptr=s.use_multimask_token_for_obj_ptr)

    # ------------------------------------------------------------------ encoding
    def encode_image(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Run the image encoder once.

        Args:
            images: (B, 3, S, S) normalised images at ``image_size``.

        Returns:
            dict with ``image_embed`` (B, C, S/16, S/16), lowest level with SAM-2's
            ``no_mem_embed`` added (image mode, as ``SAM2ImagePredictor``);
            ``high_res_feats``: list of raw FPN maps (B, C, S/4, S/4) and (B, C, S/8, S/8),
            *before* the decoder's ``conv_s0/conv_s1`` (each head applies its own);
            ``image_pe`` (1, C, S/16, S/16) dense positional encoding.
        """
        backbone_out = self.sam2.image_encoder(images)
        _, vision_feats, _, feat_sizes = self.sam2._prepare_backbone_features(backbone_out)
        image_embed = vision_feats[-1]
        if self.sam2.directly_add_no_mem_embed:
            image_embed = image_embed + self.sam2.no_mem_embed
        batch = images.shape[0]
        image_embed = image_embed.permute(1, 2, 0).reshape(batch, -1, *feat_sizes[-1])
        high_res = list(backbone_out['backbone_fpn'][:-1]) \
            if self.sam2.use_high_res_features_in_sam else None
        return dict(image_embed=image_embed, high_res_feats=high_res,
                    image_pe=self.prompt_encoder.get_dense_pe())

    # ------------------------------------------------------------------ prompts
    def padding_prompts(self, num: int) -> torch.Tensor:
        """Sparse tokens SAM-2 produces with no clicks: (num, 2, C).

        ``_forward_sam_heads`` pads with one label -1 point and the prompt encoder adds one
        more (no boxes); Sa2VA appends its language token after these two.
        """
        pe = self.prompt_encoder
        device = pe.not_a_point_embed.weight.device
        coords = torch.zeros(1, 1, 2, device=device)
        labels = -torch.ones(1, 1, dtype=torch.int32, device=device)
        sparse, _ = pe(points=(coords, labels), boxes=None, masks=None)
        return sparse.expand(num, -1, -1)

    def point_prompts(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sparse tokens of clicks: coords (N, P, 2) pixels at ``image_size``, labels (N, P)."""
        sparse, _ = self.prompt_encoder(points=(coords, labels.int()), boxes=None, masks=None)
        return sparse

    def box_prompts(self, boxes: torch.Tensor) -> torch.Tensor:
        """Sparse tokens of boxes (N, 4) xyxy pixels at ``image_size``: (N, 2, C)."""
        sparse, _ = self.prompt_encoder(points=None, boxes=boxes, masks=None)
        return sparse

    def dense_prompts(self, num: int, mask_logits: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Dense prompt embeddings (num, C, S/16, S/16).

        Args:
            num: Number of prompts.
            mask_logits: (num, 1, S/4, S/4) low-res mask logits to re-prompt with (clamped to
                [-32, 32] as in SAM-2's video predictor), or None for ``no_mask_embed``.
        """
        pe = self.prompt_encoder
        if mask_logits is None:
            h, w = pe.image_embedding_size
            return pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(num, -1, h, w)
        if mask_logits.shape[-2:] != pe.mask_input_size:
            mask_logits = F.interpolate(mask_logits.float(), size=pe.mask_input_size,
                                        mode='bilinear', align_corners=False)
        return pe._embed_masks(mask_logits.clamp(-32.0, 32.0))
