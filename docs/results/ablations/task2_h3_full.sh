#!/usr/bin/env bash
# Task 2 hidden setting 3 at the study's FULL budget (at most 250 epochs, patience 15), all data sizes
# (500, 1500, 4110), 3 seeds, both vanilla readings: the project's defaults ("base"), --settings=study, then one
# departure flag at a time. shared_sparse (the shared model on jraph graphs) is left out: same model as shared.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
MODELS=--models=vanilla,vanilla_aug,vanilla_flat,vanilla_flat_aug,shared,shared_aug
declare -A RUN=(
  [full]=""
  [study]="--settings=study"
  [global_aggregation_sum]="--global_aggregation=sum"
  [augment_per_batch]="--augment_per=batch"
  [max_nodes_all]="--max_nodes=all"
)
for name in full study global_aggregation_sum augment_per_batch max_nodes_all; do
  if [[ -f "runs/task2_h3_$name/report.md" ]]; then continue; fi
  # shellcheck disable=SC2086
  nice -n 5 "$PYTHON" experiments/task2.py --hidden=3 --seeds=3 $MODELS ${RUN[$name]} --out_dir="runs/task2_h3_$name" \
    --resume
  echo "$(date -u +%H:%M:%S) finished $name"
done
