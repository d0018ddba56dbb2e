# Runtime shared by every config: registry scope, hooks, logging, visualisation.
default_scope = 'desa2va_mm'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1000, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'),
    # RNG states in every checkpoint, restored on --resume (bit-exact continuation).
    exact_resume=dict(type='ExactResumeHook'),
    # MMEngine's resume executes meta['config'] of a checkpoint as Python: drop it.
    checkpoint_config_guard=dict(type='CheckpointConfigGuardHook'),
    # SIGTERM / SIGUSR1 (slurm, Kubernetes): checkpoint after the current iteration, stop
    # cleanly; `--resume` continues bit-exactly (docs/reliability.md).
    preemption=dict(type='PreemptionCheckpointHook'),
    # The data pipelines take the model's tokenizer and chat template (one owner: the
    # model's `mllm.pretrained`); a pipeline naming its own is checked against it.
    model_tokenizer=dict(type='ModelTokenizerHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ReferringSegVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False

# SAM-2 decoders have heads no loss reaches (IoU / object-score heads, unused multimask
# tokens; Sa2VA supervises neither), and phase configs freeze whole branches: DDP must not
# wait for their gradients.
find_unused_parameters = True
