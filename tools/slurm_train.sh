#!/usr/bin/env bash
# Slurm training, in the style of mmdet 3.x's tools/slurm_train.sh.
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#       bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
#
# One task per GPU (GPUS tasks in all, GPUS_PER_NODE per node). On CPU-only nodes set
# GPUS_PER_NODE=0 to drop `--gres` and TASKS_PER_NODE to the processes per node
# (default: GPUS_PER_NODE, or GPUS when GPUS_PER_NODE=0); tools/train.py then uses gloo.
#
# Preemption: srun signals every task before the time limit (PREEMPT_SIGNAL, default
# USR1@120: SIGUSR1 120 s before; PREEMPT_SIGNAL= turns it off). PreemptionCheckpointHook
# then saves a checkpoint after the current iteration and the run exits cleanly; continue
# it with `--resume`. A self-requeueing sbatch script: docs/reliability.md.

set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PREEMPT_SIGNAL=${PREEMPT_SIGNAL-USR1@120}
PY_ARGS=("${@:5}")

if [ "${GPUS_PER_NODE}" -gt 0 ]; then
    GRES_ARG="--gres=gpu:${GPUS_PER_NODE}"
    TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS_PER_NODE}}
else
    GRES_ARG=""
    TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS}}
fi

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    ${GRES_ARG} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${TASKS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${PREEMPT_SIGNAL:+--signal=${PREEMPT_SIGNAL}} \
    ${SRUN_ARGS} \
    python -u $(dirname "$0")/train.py ${CONFIG} --work-dir=${WORK_DIR} --launcher="slurm" "${PY_ARGS[@]}"
