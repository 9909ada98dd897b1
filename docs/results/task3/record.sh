#!/usr/bin/env bash
# How docs/results/task3/ was recorded: the full grid (data sizes 1000-40000, 3 seeds, 4 variants,
# at most 400 epochs, patience 20) for each model size, then the three merged. Two passes:
#   docs/results/task3/record.sh                           # every lane to at most 200 epochs, then merge
#   MAX_EPOCHS=400 RESUME=1 docs/results/task3/record.sh   # the same lanes on to 400 epochs, then merge
#   docs/results/task3/record.sh merge                     # merge runs/task3_record/* into docs/results/task3/ again
# Resuming gives the numbers of an uninterrupted run, so this equals, per model size:
#   python experiments/task3.py --model_size=<size>
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=runs/task3_record
DOCS=docs/results/task3
ARGS=(--max_epochs="${MAX_EPOCHS:-200}" --patience=20 --seeds=3)
if [[ -n "${RESUME:-}" ]]; then ARGS+=(--resume); fi

if [[ "${1:-}" != "merge" ]]; then
  mkdir -p "$RUNS"
  [[ -n "${RESUME:-}" ]] || : > "$RUNS/wall_s.txt"
  for size in small medium large; do
    start=$(date +%s.%N)
    nice -n 10 "$PYTHON" experiments/task3.py --model_size="$size" "${ARGS[@]}" --out_dir="$RUNS/$size" \
      | tee "$RUNS/$size.log"
    echo "$size $(echo "$(date +%s.%N) - $start" | bc)" >> "$RUNS/wall_s.txt"
  done
fi

"$PYTHON" - "$RUNS" "$DOCS" "${ARGS[*]}" <<'PY'
import os
import shutil
import sys

from symjax.report import write_report
from symjax.tasks import common
from symjax.train import read_results, write_results

runs, docs, args = sys.argv[1:]
sizes = ("small", "medium", "large")
rows, flags_text = [], ""
for size in sizes:
    rows += read_results(os.path.join(runs, size))
    flags_text += f"# {size}\n" + open(os.path.join(runs, size, "flags.txt")).read()
    shutil.copyfile(os.path.join(runs, size, "fig9_task3_rollouts.png"), os.path.join(docs, f"fig9_task3_rollouts_{size}.png"))
walls = {}  # seconds per model size, summed over resumed runs
for line in open(os.path.join(runs, "wall_s.txt")):
    if line.strip():
        size, seconds = line.split()
        walls[size] = walls.get(size, 0.0) + float(seconds)
total = sum(walls.values())
notes = open(os.path.join(docs, "notes.md")).read().strip()
cap = int(next(a.split("=", 1)[1] for a in args.split() if a.startswith("--max_epochs=")))
data_sizes = sorted({int(r["data_size"]) for r in rows})
pairs = {}
for r in rows:
    if r["model"] in ("shared", "shared_aug"):
        pairs.setdefault((r["setting"], r["data_size"], r["seed"]), {})[r["model"]] = r["test_loss"]
equal_pairs = sum(len(p) == 2 and p["shared"] == p["shared_aug"] for p in pairs.values())
beyond = "" if cap >= 400 else ", so the study's 400 epochs would likely lower its test loss"
convergence = "; ".join(
    f"{n}: {sum(int(r['epochs']) < cap for r in rows if int(r['data_size']) == n)} of "
    f"{sum(int(r['data_size']) == n for r in rows)} stopped early"
    for n in data_sizes)
extra = f"""- Commands (`docs/results/task3/record.sh`): for each model size in small, medium, large:
  `python experiments/task3.py --model_size=<size> {args} --out_dir=runs/task3_record/<size>`, then the rows merged here.
- Machine: {common.machine_description()}; shared with other jobs while recording.
- Wall time: {total:.0f} s in all ({', '.join(f'{s} {float(walls[s]):.0f} s' for s in sizes if s in walls)}).
- Early stopping (patience 20) within the {cap}-epoch cap, lanes per data size: {convergence}. A lane that did
  not stop early was still improving its validation loss within its last 20 epochs at the cap{beyond}.
- shared vs shared_aug: in {equal_pairs} of {len(pairs)} (model size, data size, seed) pairs the two test losses
  are bitwise equal (see the note on why they are the same model in exact arithmetic).
{notes}
"""
os.makedirs(docs, exist_ok=True)
write_results(docs, rows, flags_text)
write_report(3, rows, docs, extra_md=extra)
print("wrote", docs, len(rows), "rows")
PY
