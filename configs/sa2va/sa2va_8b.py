# Sa2VA-8B baseline at real size (InternVL2.5-8B = InternViT-300M + InternLM2.5-7B hosted as
# a Llama model, + SAM-2 hiera-L), Sa2VA's recipe (see sa2va_1b.py).
#   bash tools/dist_train.sh configs/sa2va/sa2va_8b.py 8 --cfg-options \
#       model.mllm.pretrained=InternVL2_5-8B-hf model.grounding_encoder.checkpoint=sam2_hiera_large.pt
# 8B on 40 GB GPUs: add the DeepSpeed ZeRO-3 strategy (see desa2va_1b_decouple_zero3.py).
_base_ = ['../_base_/models/sa2va_8b.py', '../_base_/real_size_training.py']
