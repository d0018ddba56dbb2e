"""A SAM-2 mask decoder prompted with tokens, reading shared image features."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from desa2va_mm.registry import MODELS


@MODELS.register_module()
class SAM2MaskHead(BaseModule):
    """Owns one SAM-2 ``MaskDecoder`` and decodes sparse (+ dense) prompts.

    The decoder is built exactly as ``SAM2Base._build_sam_heads`` builds its own and can be
    initialised from a pretrained SAM-2 decoder (:meth:`init_from_decoder`). It is called
    directly, not through ``SAM2Base._forward_sam_heads``: the stock path overwrites the
    logits with -1024 when the object score is <= 0, which kills the mask gradient.

    Args:
        transformer_dim: C, SAM-2's prompt / decoder width (256 for hiera-L).
        use_high_res_features: Use the stride-4 / stride-8 FPN maps (SAM-2 default).
        iou_prediction_use_sigmoid: As SAM-2's config.
        pred_obj_scores: Predict an object-presence logit.
        pred_obj_scores_mlp: Object-score head is an MLP.
        use_multimask_token_for_obj_ptr: As SAM-2's config.
        multimask_output: Decode 3 candidate masks and keep the one with the highest
            predicted IoU (Sa2VA); False decodes the single-mask token.
        num_multimask_outputs, iou_head_depth, iou_head_hidden_dim, transformer_depth,
        transformer_mlp_dim, transformer_num_heads: SAM-2's fixed decoder hyper-parameters.
        init_cfg: MMEngine init config.
    """

    def __init__(self,
                 *,
                 transformer_dim: int = 256,
                 use_high_res_features: bool = True,
                 iou_prediction_use_sigmoid: bool = True,
                 pred_obj_scores: bool = True,
                 pred_obj_scores_mlp: bool = True,
                 use_multimask_token_for_obj_ptr: bool = True,
                 multimask_output: bool = True,
                 num_multimask_outputs: int = 3,
                 iou_head_depth: int = 3,
                 iou_head_hidden_dim: int = 256,
                 transformer_depth: int = 2,
                 transformer_mlp_dim: int = 2048,
                 transformer_num_heads: int = 8,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        from sam2.modeling.sam.mask_decoder import MaskDecoder
        from sam2.modeling.sam.transformer import TwoWayTransformer
        self.multimask_output = multimask_output
        self.use_high_res_features = use_high_res_features
        self.decoder = MaskDecoder(
            num_multimask_outputs=num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=transformer_depth, embedding_dim=transformer_dim,
                mlp_dim=transformer_mlp_dim, num_heads=transformer_num_heads),
            transformer_dim=transformer_dim,
            iou_head_depth=iou_head_depth,
            iou_head_hidden_dim=iou_head_hidden_dim,
            use_high_res_features=use_high_res_features,
            iou_prediction_use_sigmoid=iou_prediction_use_sigmoid,
            pred_obj_scores=pred_obj_scores,
            pred_obj_scores_mlp=pred_obj_scores_mlp,
            use_multimask_token_for_obj_ptr=use_multimask_token_for_obj_ptr)

    def init_from_decoder(self, decoder: nn.Module) -> None:
        """Copy a pretrained SAM-2 mask decoder's weights (strict)."""
        self.decoder.load_state_dict(decoder.state_dict(), strict=True)

    def project_high_res(self, high_res_feats: List[torch.Tensor]) -> List[torch.Tensor]:
        """This head's ``conv_s0`` / ``conv_s1`` on the raw FPN maps (once per image)."""
        return [self.decoder.conv_s0(high_res_feats[0]), self.decoder.conv_s1(high_res_feats[1])]

    def forward(self,
                image_feats: Dict[str, torch.Tensor],
                sparse_prompts: torch.Tensor,
                dense_prompts: torch.Tensor,
                image_idx: torch.Tensor,
                multimask_output: Optional[bool] = None) -> Dict[str, torch.Tensor]:
        """Decode N prompts against B images.

        Args:
            image_feats: Output of ``SAM2Grounding.encode_image`` for B images:
                ``image_embed`` (B, C, h, w), ``high_res_feats`` [(B, C, 4h, 4w),
                (B, C, 2h, 2w)], ``image_pe`` (1, C, h, w).
            sparse_prompts: (N, P, C) prompt tokens (e.g. 2 padding tokens + ours).
            dense_prompts: (N, C, h, w) dense prompt embeddings.
            image_idx: (N,) index of the image each prompt belongs to.
            multimask_output: Override the head's setting.

        Returns:
            dict: ``low_res_logits`` (N, 1, 4h, 4w) chosen mask logits; ``iou_pred`` (N,)
            its predicted IoU; ``object_score_logits`` (N,); ``multi_logits`` (N, M, 4h, 4w)
            and ``multi_iou`` (N, M) of every candidate; ``mask_tokens`` (N, M, C).
        """
        multimask = self.multimask_output if multimask_output is None else multimask_output
        high_res = None
        if self.use_high_res_features:
            high_res = [f.index_select(0, image_idx)
                        for f in self.project_high_res(image_feats['high_res_feats'])]
        image_embed = image_feats['image_embed'].index_select(0, image_idx)
        logits, iou, tokens, obj_scores = self.decoder(
            image_embeddings=image_embed,
            image_pe=image_feats['image_pe'],
            sparse_prompt_embeddings=sparse_prompts,
            dense_prompt_embeddings=dense_prompts,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=high_res)
        logits = logits.float()
        best = iou.argmax(dim=-1)
        rows = torch.arange(logits.shape[0], device=logits.device)
        return dict(
            low_res_logits=logits[rows, best].unsqueeze(1),
            iou_pred=iou[rows, best],
            object_score_logits=obj_scores.reshape(-1),
            multi_logits=logits,
            multi_iou=iou,
            mask_tokens=tokens)
