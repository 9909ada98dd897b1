#!/usr/bin/env bash
# Task 3: the simulator readings the study leaves open (integrator, softening) at a REDUCED budget: small model,
# data sizes 1000 and 5000, 3 seeds, at most 60 of 400 epochs, patience 20, all at --settings=study.
# "study" keeps velocity Verlet and eq. 22's force; "euler" and "plummer" change one each. Each report's
# "no-change predictor" section gives the baseline's loss under that simulator.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=${RUNS:-runs/ablations/task3_simulator}
COMMON=(--settings=study --model_sizes=small --data_sizes=1000,5000 --seeds=3 --max_epochs=60 --patience=20 --quiet
        --resume)
declare -A RUN=([study]="" [euler]="--integrator=euler" [plummer]="--softening=plummer")
for name in study euler plummer; do
  # shellcheck disable=SC2086
  "$PYTHON" experiments/task3.py "${COMMON[@]}" ${RUN[$name]} --out_dir="$RUNS/$name"
  echo "$(date -u +%H:%M:%S) finished $name"
done
"$PYTHON" experiments/compare_runs.py --task=3 --base="$RUNS/study" --ablation=euler:"$RUNS/euler" \
  --ablation=plummer:"$RUNS/plummer" --out="$RUNS/departures.md"
