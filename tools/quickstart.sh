#!/usr/bin/env bash
# The whole pipeline on the bundled default, in ~15-20 min on 2 CPU cores:
# install -> synthetic RefCOCO-format data -> train the tiny model -> evaluate ->
# cIoU / gIoU beside trivial baselines -> mask overlays under the work dir.
#   bash tools/quickstart.sh
# Environment knobs: CONFIG, WORK_DIR, DATA_ROOT, NUM_IMAGES, MAX_ITERS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh

CONFIG=${CONFIG:-configs/sa2va_tiny.py}
WORK_DIR=${WORK_DIR:-work_dirs/quickstart}
DATA_ROOT=${DATA_ROOT:-data/synthetic_refcoco}
NUM_IMAGES=${NUM_IMAGES:-4000}
MAX_ITERS=${MAX_ITERS:-}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

echo "== 1/4 synthetic RefCOCO-format data -> $DATA_ROOT"
python tools/dataset_converters/make_synthetic_refcoco.py --out "$DATA_ROOT" \
  --num-images "$NUM_IMAGES" --seed 0 --skip-existing

TRAIN_OPTS=("train_dataloader.dataset.data_root=$DATA_ROOT/" "train_dataloader.num_workers=0"
            "train_dataloader.persistent_workers=False")
TEST_OPTS=("test_dataloader.dataset.data_root=$DATA_ROOT/")
echo "== 2/4 stage 0: the tiny SAM-2 learns its own task (click -> mask) -> $WORK_DIR/stage0"
python tools/train.py configs/sa2va_tiny_sam_pretrain.py --work-dir "$WORK_DIR/stage0" \
  --cfg-options "${TRAIN_OPTS[@]}"
echo "== 2/4 train $CONFIG -> $WORK_DIR"
# No validation during training: step 3 evaluates the final checkpoint on the val split.
MAIN=("${TRAIN_OPTS[@]}" "load_from=$(cat "$WORK_DIR/stage0/last_checkpoint")"
      "val_dataloader=None" "val_cfg=None" "val_evaluator=None")
if [[ -n "$MAX_ITERS" ]]; then MAIN+=("train_cfg.max_iters=$MAX_ITERS"); fi
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" --cfg-options "${MAIN[@]}"
CKPT=$(cat "$WORK_DIR/last_checkpoint")

echo "== 3/4 test $CKPT (overlays -> $WORK_DIR/test/vis)"
python tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" --show-dir vis \
  --cfg-options "${TEST_OPTS[@]}"

echo "== 4/4 model vs trivial baselines (same metric, same split)"
python tools/analysis_tools/trivial_baselines.py "$CONFIG" --model-metrics "$WORK_DIR/test" \
  --cfg-options "test_dataloader.dataset.data_root=$DATA_ROOT/"
echo "overlays: $(ls -d "$WORK_DIR"/test/*/vis 2>/dev/null | tail -n 1)"
