#!/usr/bin/env bash
# Task 3, medium model: the study's shared widths (7528 parameters) against the project's (11080), REDUCED
# budget as task3_large_reduced.sh: data sizes 1000 and 5000, 3 seeds, at most 60 epochs (study: 400), patience 20.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=runs/ablations/task3_medium
COMMON=(--model_sizes=medium --data_sizes=1000,5000 --seeds=3 --max_epochs="${MAX_EPOCHS:-60}" --patience=20 --quiet)
for name in base medium_thesis; do
  if [[ -f "$RUNS/$name/report.md" ]]; then continue; fi
  extra=(); [[ $name == medium_thesis ]] && extra=(--medium_shared_widths=thesis)
  nice -n 5 "$PYTHON" experiments/task3.py "${COMMON[@]}" "${extra[@]}" --out_dir="$RUNS/$name" --overwrite
  echo "$(date -u +%H:%M:%S) finished $name"
done
