#!/usr/bin/env bash
# How docs/results/task3/ was recorded: the cut of the full grid stated in report.md.
#   docs/results/task3/record.sh          # train the three model sizes, then merge
#   docs/results/task3/record.sh merge    # merge runs/task3_record/* into docs/results/task3/ again
# The full grid (400 epochs, data sizes 1000-40000) is, per model size:
#   python experiments/task3.py --model_size=small|medium|large
set -euo pipefail
cd "$(dirname "$0")/../../.."
PYTHON=${PYTHON:-python}
RUNS=runs/task3_record
DOCS=docs/results/task3
ARGS=(--data_sizes=1000,5000 --max_epochs=200 --patience=20 --seeds=3 --quiet)

if [[ "${1:-}" != "merge" ]]; then
  mkdir -p "$RUNS"
  : > "$RUNS/wall_s.txt"
  for size in small medium large; do
    start=$(date +%s.%N)
    nice -n 10 "$PYTHON" experiments/task3.py --model_size="$size" "${ARGS[@]}" --out_dir="$RUNS/$size"
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
walls = dict(line.split() for line in open(os.path.join(runs, "wall_s.txt")) if line.strip())
total = sum(float(v) for v in walls.values())
notes = open(os.path.join(docs, "notes.md")).read().strip()
extra = f"""- Commands (`docs/results/task3/record.sh`): for each model size in small, medium, large:
  `python experiments/task3.py --model_size=<size> {args} --out_dir=runs/task3_record/<size>`, then the rows merged here.
- Machine: {common.machine_description()}; shared with other jobs while recording.
- Wall time: {total:.0f} s in all ({', '.join(f'{s} {float(walls[s]):.0f} s' for s in sizes if s in walls)}).
{notes}
"""
os.makedirs(docs, exist_ok=True)
write_results(docs, rows, flags_text)
write_report(3, rows, docs, extra_md=extra)
print("wrote", docs, len(rows), "rows")
PY
