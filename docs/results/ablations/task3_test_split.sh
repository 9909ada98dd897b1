#!/usr/bin/env bash
# Task 3 under the study's settings with the test pairs drawn from the training trajectories' pool
# (--test_split=pool), at the study's budget, and the convergence check beside it:
#   pool:      3 model sizes x 4 data sizes x 4 models x 3 seeds, at most 400 epochs, patience 20 (the study's)
#   converged: small and large x data sizes 20000, 40000 x 4 models x 3 seeds, at most 1500 epochs, patience 50
# Every invocation passes --resume, so re-running this script continues an interrupted run from its
# checkpoints (a finished one is reused). Then experiments/compare_runs.py labels the contradictions.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=${RUNS:-runs/ablations/task3_test_split}
COMMON=(--settings=study --test_split=pool --seeds=3 --resume)
mkdir -p "$RUNS"
# Sweeps of the converged run that an earlier session finished are committed as their sweep.json records
# (rows included); --resume reuses a finished sweep from its record alone.
RECORDS=docs/results/ablations/task3_test_split/converged_records
if [[ -d "$RECORDS" && ! -d "$RUNS/converged/checkpoints" ]]; then
  for record in "$RECORDS"/*/sweep.json; do
    sweep=$(basename "$(dirname "$record")")
    mkdir -p "$RUNS/converged/checkpoints/$sweep" && cp "$record" "$RUNS/converged/checkpoints/$sweep/"
  done
fi
# The pool grid is recorded in docs/results/ablations/task3_test_split/pool/; RERUN_POOL=1 trains it again.
if [[ -n "${RERUN_POOL:-}" || ! -f docs/results/ablations/task3_test_split/pool/report.md ]]; then
  "$PYTHON" experiments/task3.py "${COMMON[@]}" --model_sizes=small,medium,large --out_dir="$RUNS/pool" \
    2>&1 | tee -a "$RUNS/pool.log"
  echo "$(date -u +%H:%M:%S) finished pool"
fi
"$PYTHON" experiments/task3.py "${COMMON[@]}" --model_sizes=small,large --data_sizes=20000,40000 \
  --max_epochs=1500 --patience=50 --out_dir="$RUNS/converged" 2>&1 | tee -a "$RUNS/converged.log"
echo "$(date -u +%H:%M:%S) finished converged"
