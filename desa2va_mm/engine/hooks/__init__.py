from .grad_reversal_schedule_hook import GradReversalScheduleHook
from .reprompt_hook import RepromptHook

__all__ = ['RepromptHook', 'GradReversalScheduleHook']
