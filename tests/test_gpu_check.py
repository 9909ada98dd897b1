"""launch/gpu_check.sh in its CPU smoke mode: every step runs and the folder holds what the first GPU run reports."""

import csv
import json
import os
import subprocess

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ["device", "tests", "task3_large", "bench_sweep", "task2_slice"]


@pytest.mark.slow
def test_cpu_smoke_writes_the_whole_folder(tmp_path):
    out = tmp_path / "gpu"
    proc = subprocess.run([os.path.join(ROOT, "launch", "gpu_check.sh"), "--cpu-smoke", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]

    with open(out / "timings.tsv") as f:
        timings = list(csv.DictReader(f, delimiter="\t"))
    assert [t["step"] for t in timings] == STEPS
    failed = {t["step"]: t["exit_code"] for t in timings if t["exit_code"] != "0"}
    assert not failed, {name: (out / f"{name}.log").read_text()[-1500:] for name in failed}
    assert all(0 < float(t["seconds"]) < float(t["cap_s"]) for t in timings)

    device = (out / "device.txt").read_text()
    assert f"jax {jax.__version__}" in device and "backend cpu" in device and "nvidia-smi" in device
    assert "passed" in (out / "tests.txt").read_text()

    # --cpu-smoke trains Task 3 for 2 epochs with a checkpoint every epoch: both architectures reach epoch 2.
    lines = (out / "task3_large" / "epochs_reached.txt").read_text().splitlines()[1:]
    reached = dict(line.split(": ") for line in lines)
    assert sorted(name.rsplit("_", 1)[-1] for name in reached) == ["shared", "vanilla"]  # one sweep per architecture
    assert set(reached.values()) == {"2"}
    assert not (out / "task3_large" / "checkpoints").exists()
    with open(out / "task3_large" / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 2 * 2  # vanilla and shared x (with and without augmentation), 1 seed

    bench = json.loads((out / "bench_sweep.json").read_text())
    assert bench["lanes"] == 4 and bench["epochs"] == 2  # sizes 40, 80 x 1 seed x {vanilla, shared}
    assert bench["steps"] == 2 * 2 * (40 // 4 + 80 // 8)  # ceil(n / batch) steps per lane and epoch
    assert bench["modes"]["engine_cold"]["wall_s"] > 0 and bench["warm_equals_cold"]
    assert "## Sweep engine (experiments/bench_sweep.py)" in (out / "bench_sweep.md").read_text()

    with open(out / "task2_slice" / "results.csv") as f:
        assert len(list(csv.DictReader(f))) >= 1
    summary = (out / "summary.md").read_text()
    assert all(f"| {name} |" in summary for name in STEPS)
