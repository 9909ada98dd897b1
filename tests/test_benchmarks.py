"""The benchmark scripts under experiments/ that have no other test run end to end at their --smoke sizes.

Each runs in a subprocess: the scripts define absl flags that other scripts define too.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _smoke(script: str) -> str:
    done = subprocess.run([sys.executable, os.path.join("experiments", script), "--smoke"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_bench_dots_counts_the_models_dots_and_prices_the_steady_state():
    out = _smoke("bench_dots.py")
    assert "## The vanilla model's dots alone (experiments/bench_dots.py)" in out
    # the dot count of one example (forward, weight and input gradients) against XLA's count of the whole
    # forward and backward: the dots are most of it, never more than all of it
    share = float(re.search(r"FLOPs, ([\d.]+) % of the", out).group(1))
    assert 85.0 < share <= 100.0, share
    assert re.search(r"\| 4 \| 40 \| [\d.]+ \(", out) and re.search(r"\| 8 \| 80 \| [\d.]+ \(", out)
    assert re.search(r"at the fastest way for each batch size \*\*[\d.]+ s\*\*", out)


def test_bench_flat_params_times_the_three_forms():
    out = _smoke("bench_flat_params.py")
    for form in ("pytree", "flat", "flat adam"):
        assert re.search(rf"^\| {form} \| [\d.]+ \| [\d.]+x \|", out, re.M), form
    assert "| pytree | " in out and "| 1.00x |" in out
