"""experiments/profile_epoch.py: XLA operation events are sorted into kinds, and the script runs end to end."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

import profile_epoch  # noqa: E402


def test_op_kind_names_operations_and_skips_everything_else():
    assert profile_epoch.op_kind("dot.12") == "matmul"
    assert profile_epoch.op_kind("ynn_fusion.6") == "matmul"
    assert profile_epoch.op_kind("multiply_add_fusion.34") == "multiply_add_fusion"
    assert profile_epoch.op_kind("reduce-window.18") == "reduce-window"
    assert profile_epoch.op_kind("copy") == "copy"
    for not_an_operation in ("while", "call.3", "ThunkExecutor::Execute", "$numpy asarray",
                             "PjitFunction(_train_epoch)", "end: ynn_fusion", "SlinkyThreadPool::Await"):
        assert profile_epoch.op_kind(not_an_operation) is None, not_an_operation


def test_profile_epoch_prints_the_table_of_a_small_sweep():
    done = subprocess.run([sys.executable, "experiments/profile_epoch.py", "--n_blocks=2", "--seeds=1",
                           "--epochs=3", "--traced=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| matmul |" in done.stdout and "| all operations |" in done.stdout, done.stdout
    bad = subprocess.run([sys.executable, "experiments/profile_epoch.py", "--epochs=3", "--traced=3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--traced: expected 1 <= traced < epochs = 3, got 3" in bad.stderr
