# FlexibleRunner + DeepSpeed ZeRO-2 (Sa2VA's setting), bf16; leaf configs set
# optim_wrapper=DeepSpeedOptimWrapper. Launch as any distributed run:
#   bash tools/dist_train.sh configs/desa2va_1b_decouple_zero2.py 8
# Needs `DS_BUILD_OPS=0 pip install deepspeed==0.19.6` (0.19.7+ removed a module
# mmengine 0.10.7's DeepSpeedStrategy imports). Checkpoints are DeepSpeed folders.
runner_type = 'FlexibleRunner'
strategy = dict(
    # Leaves set type='desa2va_mm.TrainableDeepSpeedStrategy' (frozen pretrained weights
    # left out, phase-1 heads kept, DeepSpeed's files unpickled with weights_only=True).
    # The scope prefix is needed: FlexibleRunner builds the strategy before it switches to
    # `default_scope`, so a bare name is looked up in MMEngine's registry only.
    type='DeepSpeedStrategy',
    fp16=dict(enabled=False),
    bf16=dict(enabled=True),
    zero_optimization=dict(
        stage=2,
        allgather_partitions=True,
        reduce_scatter=True,
        allgather_bucket_size=int(5e8),
        reduce_bucket_size=int(5e8),
        overlap_comm=True,
        contiguous_gradients=True),
    gradient_clipping=1.0,
    train_micro_batch_size_per_gpu=2,
    gradient_accumulation_steps=4,
    # Frozen parameters (InternVL base, SAM-2 encoder) come from `pretrained`: not saved.
    exclude_frozen_parameters=True)
