#!/usr/bin/env bash
# How docs/results/task3/ was recorded: the study's full grid (model sizes small, medium, large x data sizes
# 1000-40000 x 3 seeds x 4 variants, at most 400 epochs, patience 20) in one invocation, in two passes:
#   docs/results/task3/record.sh                           # every lane to at most 200 epochs
#   MAX_EPOCHS=400 RESUME=1 docs/results/task3/record.sh   # the same lanes on to 400 epochs (from the checkpoints)
# Resuming gives the numbers of an uninterrupted run, so this equals
#   python experiments/task3.py --model_sizes=small,medium,large --seeds=3 --out_dir=runs/task3_record
# The hand-written notes.md is appended to the copied report.md.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=runs/task3_record
DOCS=docs/results/task3
ARGS=(--model_sizes=small,medium,large --max_epochs="${MAX_EPOCHS:-200}" --patience=20 --seeds=3 --out_dir="$RUNS")
if [[ -n "${RESUME:-}" ]]; then ARGS+=(--resume); fi

mkdir -p "$RUNS"
nice -n 10 "$PYTHON" experiments/task3.py "${ARGS[@]}" 2>&1 | tee -a "$RUNS/record.log"
cp "$RUNS"/{results.csv,results.jsonl,flags.txt,aggregate.csv} "$RUNS"/*.png "$DOCS"/
{ cat "$RUNS/report.md"; echo; cat "$DOCS/notes.md"; } > "$DOCS/report.md"
echo "wrote $DOCS"
