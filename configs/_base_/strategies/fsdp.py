# FlexibleRunner + PyTorch FSDP (full sharding), bf16 mixed precision; leaf configs set a
# plain OptimWrapper. Frozen and trainable parameters share flat parameters, so
# `use_orig_params=True` keeps requires_grad per parameter (LoRA on a frozen base).
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        use_orig_params=True,
        # One FSDP unit per LLM / ViT layer, Hiera block and mask head (a size-based
        # policy would make SAM2Base a unit whose forward never runs).
        auto_wrap_policy=dict(type='desa2va_mm.engine.fsdp.layer_wrap_policy'),
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32',
                             buffer_dtype='float32')),
    state_dict_cfg='full')
