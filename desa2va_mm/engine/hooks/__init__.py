from .checkpoint_config_guard_hook import CheckpointConfigGuardHook
from .exact_resume_hook import ExactResumeHook
from .grad_reversal_schedule_hook import GradReversalScheduleHook
from .model_tokenizer_hook import ModelTokenizerHook
from .preemption_checkpoint_hook import PreemptionCheckpointHook
from .trainable_checkpoint_hook import TrainableCheckpointHook

__all__ = ['GradReversalScheduleHook', 'ExactResumeHook', 'TrainableCheckpointHook',
           'CheckpointConfigGuardHook', 'ModelTokenizerHook', 'PreemptionCheckpointHook']
