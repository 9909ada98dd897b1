#!/usr/bin/env bash
# Task 3: the readings the study leaves open, at a REDUCED budget: small model, data sizes 1000 and 5000,
# 3 seeds, at most 60 of 400 epochs, patience 20, all at --settings=study.
# "study" keeps velocity Verlet, eq. 22's force, uniformly drawn pairs and held-out test trajectories; each
# other run changes one: "euler" (--integrator=euler), "plummer" (--softening=plummer), "pool"
# (--test_split=pool), "whole_trajectories" (--pair_draw=whole_trajectories). Each report's "no-change
# predictor" section gives the baseline's loss under that reading. A run whose recorded report is in
# docs/results/ablations/task3_simulator/<name>/ is not trained again (RERUN=1 trains every run).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=${RUNS:-runs/ablations/task3_simulator}
RECORDED=docs/results/ablations/task3_simulator
COMMON=(--settings=study --model_sizes=small --data_sizes=1000,5000 --seeds=3 --max_epochs=60 --patience=20 --quiet
        --resume)
declare -A RUN=([study]="" [euler]="--integrator=euler" [plummer]="--softening=plummer" [pool]="--test_split=pool"
                [whole_trajectories]="--pair_draw=whole_trajectories")
NAMES=(study euler plummer pool whole_trajectories)
for name in "${NAMES[@]}"; do
  if [[ -z "${RERUN:-}" && -f "$RECORDED/$name/report.md" ]]; then
    mkdir -p "$RUNS" && rm -rf "${RUNS:?}/$name" && cp -r "$RECORDED/$name" "$RUNS/$name"
    continue
  fi
  # shellcheck disable=SC2086
  "$PYTHON" experiments/task3.py "${COMMON[@]}" ${RUN[$name]} --out_dir="$RUNS/$name"
  echo "$(date -u +%H:%M:%S) finished $name"
done
ABLATIONS=()
for name in "${NAMES[@]:1}"; do ABLATIONS+=(--ablation="$name:$RUNS/$name"); done
"$PYTHON" experiments/compare_runs.py --task=3 --base="$RUNS/study" "${ABLATIONS[@]}" --out="$RUNS/departures.md"
