# Sa2VA-4B baseline at real size (InternVL2.5-4B + SAM-2 hiera-L), Sa2VA's recipe: LoRA
# r=128 / alpha=256 on the LLM, projector, new-token embedding / LM-head rows, SAM-2 mask
# decoder and text_hidden_fcs train; 1 epoch of the Sa2VA mix, AdamW 4e-5, bf16,
# 2 per GPU x 4 accumulation x 8 GPUs.
#   bash tools/dist_train.sh configs/sa2va/sa2va_4b.py 8 --cfg-options \
#       model.mllm.pretrained=InternVL2_5-4B-hf model.grounding_encoder.checkpoint=sam2_hiera_large.pt
# (weights: docs/real_weights.md; import Sa2VA's own checkpoint with
# tools/model_converters/sa2va_to_desa2va.py --config configs/sa2va/sa2va_4b.py).
_base_ = ['../_base_/models/sa2va_4b.py', '../_base_/real_size_training.py']
