# FlexibleRunner + DeepSpeed ZeRO-3 (parameters sharded too; for the 8B model on smaller
# GPUs). The 16-bit weights are gathered when saving so checkpoints stay loadable.
_base_ = ['deepspeed_zero2.py']
strategy = dict(
    zero_optimization=dict(
        _delete_=True,
        stage=3,
        overlap_comm=True,
        contiguous_gradients=True,
        stage3_gather_16bit_weights_on_model_save=True))
