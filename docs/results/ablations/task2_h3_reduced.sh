#!/usr/bin/env bash
# Task 2 one-factor-at-a-time ablations, REDUCED budget (2-core shared CPU): hidden setting 3, data sizes 500
# and 1500 (of 500, 1500, 4110), 3 seeds, at most 30 epochs (study: 250), patience 15, both vanilla readings.
# "base" is the project's defaults; each other run changes one flag.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=runs/ablations/task2_h3
COMMON=(--hidden=3 --data_sizes=500,1500 --seeds=3 --max_epochs="${MAX_EPOCHS:-30}" --patience=15 --quiet
        --models=vanilla,vanilla_aug,vanilla_flat,vanilla_flat_aug,shared,shared_aug)
declare -A RUN=(
  [base]=""
  [global_aggregation_sum]="--global_aggregation=sum"
  [augment_per_batch]="--augment_per=batch"
)
for name in base global_aggregation_sum augment_per_batch; do
  if [[ -f "$RUNS/$name/report.md" ]]; then continue; fi
  # shellcheck disable=SC2086
  nice -n 5 "$PYTHON" experiments/task2.py "${COMMON[@]}" ${RUN[$name]} --out_dir="$RUNS/$name" --overwrite
  echo "$(date -u +%H:%M:%S) finished $name"
done
