#!/usr/bin/env bash
# The whole pipeline on the bundled default, 17-23 min on 2 idle CPU cores (docs/results.md §2):
# install -> synthetic RefCOCO-format data -> train the tiny DeSa2VA through its phases ->
# evaluate -> cIoU / gIoU beside trivial baselines -> mask overlays under the work dir.
#   bash tools/quickstart.sh
# Environment knobs: ARCH (desa2va | sa2va), WORK_DIR, DATA_ROOT, NUM_IMAGES, and the
# iterations of each stage: STAGE0_ITERS, PRETRAIN_ITERS, DECOUPLE_ITERS, FUSION_ITERS
# (sa2va: the same stage 0, then one main run of MAIN_ITERS, by default PRETRAIN_ITERS +
# DECOUPLE_ITERS + FUSION_ITERS: both architectures train the same total). VIDEO=1 (desa2va) adds the video phase afterwards (~6 more min):
# synthetic MeViS videos (VIDEO_DATA_ROOT), configs/desa2va_video/desa2va_tiny_video.py from the image
# model for VIDEO_ITERS (300), J&F on valid_u beside the video baselines.
# TASK picks what the tiny Sa2VA learns instead of referring segmentation, each on its
# synthetic set, scored beside its trivial baselines (TASK_ITERS overrides the iterations):
#   TASK=gcg  grounded captions, GranD-f layout (1000 its, ~6 min): GCGMetric vs constant captions
#   TASK=vp   region prompts, Osprey layout (1500 its, ~11 min): region QA vs constant answers
#   TASK=qa   multiple-choice colour questions (1500 its, ~10 min): MMBench-layout accuracy vs
#             constant answers
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup_env.sh

ARCH=${ARCH:-desa2va}
WORK_DIR=${WORK_DIR:-work_dirs/quickstart}
DATA_ROOT=${DATA_ROOT:-data/synthetic_refcoco}
NUM_IMAGES=${NUM_IMAGES:-4000}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
case "$ARCH" in
  desa2va|sa2va) ;;
  *) echo "quickstart: ARCH must be desa2va or sa2va, got '$ARCH'" >&2; exit 2 ;;
esac
START=$(date +%s)
elapsed() { echo "[quickstart $(( ($(date +%s) - START) / 60 )) min $(( ($(date +%s) - START) % 60 )) s] $*"; }

# task_run NAME CONFIG ITERS [TRAIN_OPTION...]: train the tiny Sa2VA on a task set from
# scratch, checkpoint at its last iteration -> $CKPT. No validation inside training: step
# 3 tests the final checkpoint.
task_run() {
  local name=$1 config=$2 iters=$3; shift 3
  elapsed "2/3 $name: $config ($iters iterations) -> $WORK_DIR/$name"
  python tools/train.py "$config" --work-dir "$WORK_DIR/$name" --cfg-options \
    "train_cfg.max_iters=$iters" "train_cfg.val_interval=$(( iters + 1 ))" \
    "val_dataloader=None" "val_cfg=None" "val_evaluator=None" \
    "default_hooks.checkpoint.interval=$iters" "param_scheduler.1.end=$iters" "$@"
  CKPT=$(cat "$WORK_DIR/$name/last_checkpoint")
}
case "${TASK:-refer}" in
  refer) ;;
  gcg)
    GCG_DATA_ROOT=${GCG_DATA_ROOT:-data/synthetic_gcg}
    elapsed "1/3 synthetic grounded captions -> $GCG_DATA_ROOT"
    [[ -f "$GCG_DATA_ROOT/annotations/GranDf_HA_GCG_train.json" ]] || \
      python tools/dataset_converters/make_synthetic_gcg.py --out "$GCG_DATA_ROOT"
    CONFIG=configs/sa2va_gcg_test/sa2va_tiny_synthetic_gcg.py
    DATA=("train_dataloader.dataset.data_root=$GCG_DATA_ROOT/"
          "test_dataloader.dataset.data_root=$GCG_DATA_ROOT/")
    task_run gcg "$CONFIG" "${TASK_ITERS:-1000}" "${DATA[@]}"
    elapsed "3/3 test $CKPT; GCG scores beside constant captions"
    python tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/gcg_test" --cfg-options "${DATA[@]}"
    python tools/analysis_tools/gcg_baselines.py "$CONFIG" --model-metrics "$WORK_DIR/gcg_test" \
      --cfg-options "${DATA[@]}"
    elapsed "done"; exit 0 ;;
  vp)
    VP_DATA_ROOT=${VP_DATA_ROOT:-data/synthetic_osprey}
    elapsed "1/3 synthetic RefCOCO-format data and region prompts -> $DATA_ROOT, $VP_DATA_ROOT"
    python tools/dataset_converters/make_synthetic_refcoco.py --out "$DATA_ROOT" \
      --num-images "$NUM_IMAGES" --seed 0 --skip-existing
    # Seed 1: pictures the RefCOCO set (seed 0) does not hold.
    [[ -f "$VP_DATA_ROOT/Osprey-724K/osprey_conversation_val.json" ]] || \
      python tools/dataset_converters/make_synthetic_osprey.py --out "$VP_DATA_ROOT" \
        --num-images 600 --val-fraction 0.25 --seed 1
    CONFIG=configs/sa2va/sa2va_tiny_vp.py
    task_run vp "$CONFIG" "${TASK_ITERS:-1500}" \
      "train_dataloader.dataset.datasets.0.data_root=$DATA_ROOT/" \
      $(for i in 1 2 3 4; do echo "train_dataloader.dataset.datasets.$i.data_root=$VP_DATA_ROOT/"; done)
    elapsed "3/3 region questions on the held-out pictures, beside constant answers"
    python tools/analysis_tools/region_qa_accuracy.py "$CONFIG" "$CKPT" --data-root "$VP_DATA_ROOT"
    elapsed "done"; exit 0 ;;
  qa)
    MCQ_ROOT=${MCQ_ROOT:-data/synthetic_mcq}
    elapsed "1/3 synthetic RefCOCO-format data and colour questions -> $DATA_ROOT, ${MCQ_ROOT}{_train,}"
    python tools/dataset_converters/make_synthetic_refcoco.py --out "$DATA_ROOT" \
      --num-images "$NUM_IMAGES" --seed 0 --skip-existing
    # Training questions on seed-1 pictures, test questions on seed-2 pictures.
    [[ -f "${MCQ_ROOT}_train/synthetic_mcq_train.json" ]] || \
      python -m desa2va_mm.synthetic.qa_mcq --llava --out "${MCQ_ROOT}_train" \
        --num-questions 600 --seed 1 --circular
    [[ -f "$MCQ_ROOT/synthetic_mcq.tsv" ]] || \
      python -m desa2va_mm.synthetic.qa_mcq --out "$MCQ_ROOT/synthetic_mcq.tsv" \
        --num-questions 200 --seed 2 --circular
    CONFIG=configs/sa2va/sa2va_tiny_qa.py
    DATA=("test_dataloader.dataset.data_root=$MCQ_ROOT/")
    task_run qa "$CONFIG" "${TASK_ITERS:-1500}" \
      "train_dataloader.dataset.datasets.0.data_root=$DATA_ROOT/" \
      "train_dataloader.dataset.datasets.1.data_root=${MCQ_ROOT}_train/"
    elapsed "3/3 test $CKPT; accuracy beside constant answers"
    python tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/qa_test" --cfg-options "${DATA[@]}"
    python tools/analysis_tools/mcq_baselines.py "$CONFIG" --model-metrics "$WORK_DIR/qa_test" \
      --cfg-options "${DATA[@]}"
    elapsed "done"; exit 0 ;;
  *) echo "quickstart: TASK must be refer, gcg, vp or qa, got '$TASK'" >&2; exit 2 ;;
esac

elapsed "1/4 synthetic RefCOCO-format data -> $DATA_ROOT"
python tools/dataset_converters/make_synthetic_refcoco.py --out "$DATA_ROOT" \
  --num-images "$NUM_IMAGES" --seed 0 --skip-existing

# No validation inside training: step 3 evaluates the final checkpoint on the val split.
TRAIN_OPTS=("train_dataloader.dataset.data_root=$DATA_ROOT/" "train_dataloader.num_workers=0"
            "train_dataloader.persistent_workers=False"
            "val_dataloader=None" "val_cfg=None" "val_evaluator=None")
# Every stage, the test and the baselines run in one Python process (tools/run_steps.py:
# the libraries are imported once, not once per stage); STEPS collects them.
STEPS=()
CKPT=None
# train NAME CONFIG ITERS: one stage from $CKPT, checkpoint at its last iteration -> $CKPT.
train() {
  local name=$1 config=$2 iters=$3
  STEPS+=(tools/train.py "$config" --work-dir "$WORK_DIR/$name" --cfg-options "${TRAIN_OPTS[@]}"
          "train_cfg.max_iters=$iters" "default_hooks.checkpoint.interval=$iters"
          "param_scheduler.1.end=$iters" "load_from=$CKPT" :::)
  CKPT=$WORK_DIR/$name/iter_$iters.pth
}

if [[ "$ARCH" == desa2va ]]; then
  # Stage 0 (tiny only): SAM-2 learns clicks -> masks, standing in for pretrained SAM-2.
  train stage0 configs/desa2va/desa2va_tiny_sam_pretrain.py "${STAGE0_ITERS:-600}"
  # Phase 1: the text decoder D_t and W_e learn from ground-truth expressions.
  train pretrain configs/desa2va/desa2va_tiny_pretrain.py "${PRETRAIN_ITERS:-1600}"
  # Phase 2: decoupled [SEG] tokens, dual heads, fusion, adversarial + CLUB.
  train decouple configs/desa2va/desa2va_tiny_decouple.py "${DECOUPLE_ITERS:-2000}"
  # Phase 3: re-prompting in training.
  train fusion configs/desa2va/desa2va_tiny_fusion.py "${FUSION_ITERS:-100}"
  CONFIG=configs/desa2va/desa2va_tiny_fusion.py
else
  # Equal budget with the DeSa2VA branch: the same stage 0 (SAM-2 encoder trainable), then
  # DeSa2VA's phase 1 + 2 + 3 iterations as Sa2VA's own training (its encoder trains in
  # all of them, as in DeSa2VA's phases).
  train stage0 configs/sa2va/sa2va_tiny_sam_pretrain.py "${STAGE0_ITERS:-600}"
  MAIN_ITERS=${MAIN_ITERS:-$(( ${PRETRAIN_ITERS:-1600} + ${DECOUPLE_ITERS:-2000} + ${FUSION_ITERS:-100} ))}
  train main configs/sa2va/sa2va_tiny.py "$MAIN_ITERS"
  CONFIG=configs/sa2va/sa2va_tiny.py
fi
# Step 3: test the last checkpoint (overlays -> $WORK_DIR/test/<timestamp>/vis);
# step 4: trivial baselines with the same metric on the same split, beside the model.
STEPS+=(tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" --show-dir vis
        --cfg-options "test_dataloader.dataset.data_root=$DATA_ROOT/" :::
        tools/analysis_tools/trivial_baselines.py "$CONFIG" --model-metrics "$WORK_DIR/test"
        --cfg-options "test_dataloader.dataset.data_root=$DATA_ROOT/")
elapsed "2/4 train ($ARCH, stages under $WORK_DIR), 3/4 test $CKPT, 4/4 model vs trivial baselines"
python tools/run_steps.py "${STEPS[@]}"
echo "overlays: $(ls -d "$WORK_DIR"/test/*/vis 2>/dev/null | tail -n 1)"

if [[ "${VIDEO:-0}" == 1 && "$ARCH" == desa2va ]]; then
  VIDEO_DATA_ROOT=${VIDEO_DATA_ROOT:-data/synthetic_mevis}
  VIDEO_ITERS=${VIDEO_ITERS:-300}
  elapsed "video: synthetic MeViS-format videos -> $VIDEO_DATA_ROOT"
  if [[ ! -f "$VIDEO_DATA_ROOT/valid_u/meta_expressions.json" ]]; then
    python tools/dataset_converters/make_synthetic_mevis.py --out "$VIDEO_DATA_ROOT" \
      --num-videos 200 --num-frames 12 --seed 0 --quiet
  fi
  # The same train() as the image phases, on the videos, from the image model ($CKPT);
  # then J&F on valid_u beside the video baselines, in one process again.
  TRAIN_OPTS[0]="train_dataloader.dataset.data_root=$VIDEO_DATA_ROOT/train/"
  STEPS=()
  train video configs/desa2va_video/desa2va_tiny_video.py "$VIDEO_ITERS"
  VIDEO_DATA=("test_dataloader.dataset.data_root=$VIDEO_DATA_ROOT/valid_u/")
  STEPS+=(tools/test.py configs/desa2va_video/desa2va_tiny_video.py "$CKPT"
          --work-dir "$WORK_DIR/video_test" --cfg-options "${VIDEO_DATA[@]}" :::
          tools/analysis_tools/video_baselines.py configs/desa2va_video/desa2va_tiny_video.py
          --model-metrics "$WORK_DIR/video_test" --cfg-options "${VIDEO_DATA[@]}")
  elapsed "video: train ($VIDEO_ITERS iterations), test $CKPT, the video baselines (J&F, valid_u)"
  python tools/run_steps.py "${STEPS[@]}"
fi

# Loss curves of each stage (one PNG per stage, every loss term in its own panel) next to
# the overlays: work_dirs/quickstart/test/<timestamp>/curves/<stage>.png
VIS_DIR=$(ls -d "$WORK_DIR"/test/*/vis 2>/dev/null | tail -n 1)
if [[ -n "$VIS_DIR" ]]; then
  CURVES="$(dirname "$VIS_DIR")/curves"
  if [[ "$ARCH" == desa2va ]]; then STAGES=(stage0 pretrain decouple fusion); else STAGES=(stage0 main); fi
  if [[ "${VIDEO:-0}" == 1 && "$ARCH" == desa2va ]]; then STAGES+=(video); fi
  for stage in "${STAGES[@]}"; do
    python tools/analysis_tools/analyze_logs.py plot_curve "$WORK_DIR/$stage" --keys 'loss*' \
      --subplots --title "$ARCH $stage" --out "$CURVES/$stage.png" > /dev/null
  done
  echo "curves: $CURVES"
fi
elapsed "done"
