"""The --quick results every refactor must reproduce bitwise on CPU (wall_s aside).

tests/data/quick_baseline/task<N>.csv hold, per lane, the key columns and the
numeric columns of ``experiments/task<N>.py --quick`` under the settings the
end-to-end tests run it with (``RUNS``). The tests that already run each
quick task compare their results.csv with these files (``assert_matches``).

A deliberate change of the numbers (e.g. an engine change that rounds
differently) is re-recorded with one command, then reviewed in the diff:

    python tests/quick_baseline.py record
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "tests" / "data" / "quick_baseline"
KEY = ("model", "setting", "train_size", "data_size", "seed")
NUMBERS = ("test_loss", "test_acc", "sym_error", "params", "epochs", "best_epoch", "diverged", "rollout_mse",
           "energy_drift", "momentum_drift")
#: task -> (extra flags, extra environment) of the quick run its end-to-end test makes.
RUNS = {
    1: (["--checkpoint_every", "1"], {}),
    2: (["--quiet"], {}),
    3: (["--quiet", "--checkpoint_every=1"], {"XLA_FLAGS": "--xla_backend_optimization_level=0"}),
}


def baseline_rows(results_csv) -> list[dict]:
    """The KEY and NUMBERS cells (as written, strings) of every row of a results.csv, in file order."""
    with open(results_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in KEY + NUMBERS if c in rows[0]]
    return [{c: r[c] for c in columns} for r in rows]


def assert_matches(task: int, results_csv) -> None:
    """AssertionError listing every cell of results_csv that differs from the recorded baseline."""
    want = baseline_rows(FOLDER / f"task{task}.csv")
    got = baseline_rows(results_csv)
    key = lambda r: tuple(r.get(c) for c in KEY)  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want)), (sorted(map(key, got)), sorted(map(key, want)))
    by_key = {key(r): r for r in got}
    diffs = [(key(w), c, w[c], by_key[key(w)].get(c)) for w in want for c in w if by_key[key(w)].get(c) != w[c]]
    assert not diffs, f"task {task} --quick differs from tests/data/quick_baseline (lane, column, want, got): {diffs}"


def write_baseline(task: int, results_csv) -> Path:
    rows = baseline_rows(results_csv)
    path = FOLDER / f"task{task}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def record() -> None:
    """Runs the three quick tasks as the tests do and rewrites tests/data/quick_baseline/."""
    for task, (args, env) in RUNS.items():
        with tempfile.TemporaryDirectory() as out:
            out_dir = os.path.join(out, "run")
            subprocess.run([sys.executable, str(REPO / "experiments" / f"task{task}.py"), "--quick", *args,
                            f"--out_dir={out_dir}"], check=True, cwd=REPO,
                           env={**os.environ, "JAX_PLATFORMS": "cpu", **env})
            print("wrote", write_baseline(task, os.path.join(out_dir, "results.csv")))


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python tests/quick_baseline.py record")
    record()
