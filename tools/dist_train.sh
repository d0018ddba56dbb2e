#!/usr/bin/env bash
# Distributed training with torchrun, in the style of mmdet 3.x's tools/dist_train.sh.
#
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
#
# GPUS is the number of processes per node: GPUs with CUDA, CPU processes (gloo) on a
# CPU-only torch. Env: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1).

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    $(dirname "$0")/train.py \
    $CONFIG \
    --launcher pytorch "${@:3}"
