# Sa2VA-1B baseline at real size: InternVL2.5-1B (InternViT-300M-448px-V2_5 + MLP projector +
# Qwen2.5-0.5B-Instruct, untied LM head) reading the image, [SEG] -> text_hidden_fcs ->
# one sparse prompt of SAM-2 hiera-L (1024 px, SAM-2.0 config, as Sa2VA's checkpoints).
#
# Weights: one key each, local paths (nothing is downloaded; docs/real_weights.md):
#   model.mllm.pretrained: a native InternVL folder (an original download converted once
#     with tools/model_converters/internvl_to_hf.py; an unconverted one is refused with
#     that command). The tokenizer and the chat template follow it, in the model and in
#     every data pipeline (ModelTokenizerHook). None = random weights and an offline
#     stand-in tokenizer of the published vocabulary size (shape checks, smoke runs).
#   model.grounding_encoder.checkpoint: sam2_hiera_large.pt (SAM-2.0), None = random.
#   load_from (or tools/test.py's CHECKPOINT): our checkpoint or a converted Sa2VA one.
# Checkpoints of a run with these set hold only what trained; loading one into a config
# without them is refused (the frozen weights would be random).
tokenizer = dict(type='InternVLTokenizer', path=None, stand_in_vocab_size=151674)

# InternViT-300M-448px-V2_5 (config.json: hidden 1024, 24 layers, 16 heads, MLP 4096,
# qkv_bias, LayerNorm eps 1e-6, layer scale, no QK norm, patch 14 at 448).
internvit_300m = dict(
    hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
    image_size=448, patch_size=14, attention_bias=True, use_qk_norm=False,
    norm_type='layer_norm', layer_norm_eps=1e-6, layer_scale_init_value=0.1,
    use_mean_pooling=True, use_absolute_position_embeddings=True, hidden_act='gelu')

# Qwen2.5-0.5B-Instruct as InternVL2.5-1B's llm_config (hidden 896, 24 layers, 14 heads,
# 2 KV heads, MLP 4864, RMSNorm 1e-6, rope theta 1e6); vocab_size comes from the tokenizer
# (151674 + 5 grounding tokens).
qwen2_5_0_5b = dict(
    model_type='qwen2', hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
    num_attention_heads=14, num_key_value_heads=2, hidden_act='silu',
    max_position_embeddings=32768, rms_norm_eps=1e-6,
    rope_parameters=dict(rope_type='default', rope_theta=1000000.0),
    use_sliding_window=False, tie_word_embeddings=False)

model = dict(
    type='DeSa2VA',
    # Images, QA and video samples of the Sa2VA mix batch together (images as 1-frame
    # videos); a batch without video is processed as ReferringDataPreprocessor does.
    # Streamed test frames are resized with PIL bicubic, as Sa2VA and the image pipelines'
    # DirectResize resize SAM-2 inputs.
    data_preprocessor=dict(type='VideoReferringDataPreprocessor', frame_resize='pillow'),
    mllm=dict(
        type='InternVLMLLM',
        tokenizer=tokenizer,
        pretrained=None,
        model_config=dict(
            vision_config=internvit_300m,
            text_config=qwen2_5_0_5b,
            downsample_ratio=0.5,
            projector_hidden_act='gelu',
            vision_feature_layer=-1,
            tie_word_embeddings=False),
        # Sa2VA: vision tower and LLM body frozen; projector, token embeddings / LM head
        # (new [SEG] rows) and LoRA train.
        freeze_vision=True,
        freeze_projector=False,
        freeze_llm=True,
        train_embeddings=True,
        # r=128, alpha=256, dropout 0.05 on every LLM linear layer but the LM head (the
        # default target regex is anchored on language_model: the vision tower's
        # projections are not targeted).
        lora=dict(r=128, lora_alpha=256, lora_dropout=0.05, bias='none'),
        gradient_checkpointing=True,
        torch_dtype='float32'),
    grounding_encoder=dict(
        type='SAM2Grounding',
        # SAM-2.0 hiera-L (Sa2VA's checkpoints); SAM-2.1:
        #   --cfg-options model.grounding_encoder.config=configs/sam2.1/sam2.1_hiera_l.yaml
        config='configs/sam2/sam2_hiera_l.yaml',
        checkpoint=None,
        freeze_image_encoder=True,
        freeze_prompt_encoder=True,
        freeze_memory=True),
    # Sa2VA: [SEG] -> text_hidden_fcs -> one prompt token -> one SAM-2 decoder (multimask,
    # highest predicted IoU kept); BCE x2.0 + Dice x0.5 on 12544 points per mask, 3x
    # oversampled, 75% the most uncertain ones of the 256 x 256 logits (Sa2VA's
    # loss_sample_points=True; docs/method.md §7).
    seg_head=dict(
        type='Sa2VASegHead',
        text_hidden_fcs=dict(type='Sa2VAProjection'),
        mask_head=dict(type='SAM2MaskHead', multimask_output=True),
        loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean',
                       loss_weight=2.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean',
                       naive_dice=True, eps=1.0, loss_weight=0.5),
        mask_loss_sampler=dict(type='MaskPointSampler', num_points=12544,
                               oversample_ratio=3.0, importance_sample_ratio=0.75)),
    init_head_from_sam2=True,
    # Sa2VA's video inference (docs/method.md §12): [SEG] prompts the key frames only, the
    # other frames are propagated through SAM-2's memory with no prompt, and the mask
    # logits are never overwritten with SAM-2's -1024 "object absent" value.
    video_tracker=dict(type='SAM2VideoTracker', track_with_seg_prompt=False,
                       object_score_source='none'),
    # Inference in bf16 on a CUDA device that has it (Sa2VA's), float32 on the CPU.
    predict_autocast='bfloat16',
    max_new_tokens=32)
