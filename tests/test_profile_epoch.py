"""experiments/profile_epoch.py: XLA operation events are sorted into kinds (experiments/bench_common.py), and
the script runs end to end."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["dot.12", "ynn_fusion.6", "multiply_add_fusion.34", "reduce-window.18", "copy", "while", "call.3",
         "ThunkExecutor::Execute", "$numpy asarray", "PjitFunction(_train_epoch)", "end: ynn_fusion",
         "SlinkyThreadPool::Await"]


def test_op_kind_names_operations_and_skips_everything_else():
    # bench_common defines no absl flags, so it imports in this process
    sys.path.insert(0, ROOT)
    try:
        from experiments.bench_common import op_kind  # noqa: PLC0415
    finally:
        sys.path.remove(ROOT)
    kinds = {name: op_kind(name) for name in NAMES}
    assert kinds == {"dot.12": "matmul", "ynn_fusion.6": "matmul", "multiply_add_fusion.34": "multiply_add_fusion",
                     "reduce-window.18": "reduce-window", "copy": "copy", **{n: None for n in NAMES[5:]}}


def test_profile_epoch_prints_the_table_of_a_small_sweep():
    done = subprocess.run([sys.executable, "experiments/profile_epoch.py", "--n_blocks=2", "--seeds=1",
                           "--train_sizes=40,80", "--epochs=3", "--traced=1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| matmul |" in done.stdout and "| all operations |" in done.stdout, done.stdout
    bad = subprocess.run([sys.executable, "experiments/profile_epoch.py", "--epochs=3", "--traced=3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--traced: expected 1 <= traced < epochs = 3, got 3" in bad.stderr
