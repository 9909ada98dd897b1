#!/usr/bin/env bash
# Task 3 one-factor-at-a-time ablations, REDUCED budget (2-core shared CPU): large model only, data sizes
# 1000 and 5000 (of 1000-40000), 3 seeds, at most 60 epochs (study: 400), patience 20. Every run has the same
# budget; "base" is the project's defaults, "study" is --settings=study, each other run changes one flag.
# Then experiments/compare_runs.py writes the "Departures and their effect" section from them.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=runs/ablations/task3_large
COMMON=(--model_sizes=large --data_sizes=1000,5000 --seeds=3 --max_epochs="${MAX_EPOCHS:-60}" --patience=20 --quiet)
declare -A RUN=(
  [base]=""
  [study]="--settings=study"
  [normalize_none]="--normalize=none"
  [augment_per_batch]="--augment_per=batch"
  [velocity_plain]="--velocity_centring=plain"
  [val_split_trajectory]="--val_split=trajectory"
)
for name in base study normalize_none augment_per_batch velocity_plain val_split_trajectory; do
  if [[ -f "$RUNS/$name/report.md" ]]; then continue; fi
  # shellcheck disable=SC2086
  nice -n 5 "$PYTHON" experiments/task3.py "${COMMON[@]}" ${RUN[$name]} --out_dir="$RUNS/$name" --overwrite
  echo "$(date -u +%H:%M:%S) finished $name"
done
