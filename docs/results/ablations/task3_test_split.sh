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
# The pool grid is recorded in docs/results/ablations/task3_test_split/pool/; RERUN_POOL=1 trains it again.
if [[ -n "${RERUN_POOL:-}" || ! -f docs/results/ablations/task3_test_split/pool/report.md ]]; then
  "$PYTHON" experiments/task3.py "${COMMON[@]}" --model_sizes=small,medium,large --out_dir="$RUNS/pool" \
    2>&1 | tee -a "$RUNS/pool.log"
  echo "$(date -u +%H:%M:%S) finished pool"
fi
# The converged run is recorded in docs/results/ablations/task3_test_split/converged/; RERUN_CONVERGED=1 trains it
# again (about 100 min of sweeps on 2 CPU cores).
if [[ -n "${RERUN_CONVERGED:-}" || ! -f docs/results/ablations/task3_test_split/converged/report.md ]]; then
  "$PYTHON" experiments/task3.py "${COMMON[@]}" --model_sizes=small,large --data_sizes=20000,40000 \
    --max_epochs=1500 --patience=50 --out_dir="$RUNS/converged" 2>&1 | tee -a "$RUNS/converged.log"
  echo "$(date -u +%H:%M:%S) finished converged"
fi
RECORDED=docs/results/ablations/task3_test_split
POOL=$RECORDED/pool; CONVERGED=$RECORDED/converged
[[ -n "${RERUN_POOL:-}" ]] && POOL=$RUNS/pool
[[ -n "${RERUN_CONVERGED:-}" ]] && CONVERGED=$RUNS/converged
"$PYTHON" experiments/compare_runs.py --task=3 --base=docs/results/ablations/task3_study \
  --split_run=pool:"$POOL" --budget_run=converged:"$CONVERGED" --out="$RUNS/labels.md"
