"""End-to-end tests of experiments/task1.py (Task 1, set function) through subprocesses.

The quick grid is n_blocks 2, train sizes 40 and 80, seeds 0 and 1, 3 epochs, all
four models: 16 lanes in two sweeps (vanilla, shared). All runs share one
persistent JAX compilation cache, so only the first run pays for compiling.

Expected values come from the study, not from the code: the column contract of
results.csv, the parameter counts of Table 5 (and the layer-by-layer formulas
below), the exact invariance of the shared model (symmetry error ~ 0 up to
float32 rounding) and the non-invariance of a dense MLP.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quick_baseline import assert_matches

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "task1.py"

# The contract of results.csv: these columns first, in this order.
CONTRACT = ["task", "model", "setting", "train_size", "seed", "test_loss", "test_acc", "sym_error", "params",
            "epochs", "best_epoch", "diverged", "wall_s"]
MODELS = ["vanilla", "vanilla_aug", "shared", "shared_aug"]
QUICK_N, QUICK_SIZES, QUICK_SEEDS, QUICK_EPOCHS = 2, [40, 80], [0, 1], 3
# Thesis Table 5: vanilla parameters per n_blocks; shared has 651 for every n_blocks.
THESIS_VANILLA_PARAMS = {1: 345, 2: 1297, 5: 7801, 10: 30801, 20: 122401}
THESIS_SHARED_PARAMS = 651


def vanilla_params(n: int) -> int:
    """Dense layers n*(1, 8, 16, 8, 4, 2) -> 1: sum of fan_in * fan_out + fan_out."""
    widths = [n * w for w in (1, 8, 16, 8, 4, 2)] + [1]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def shared_params() -> int:
    """S_n set layers 1 -> 8 -> 16 -> 8 -> 4 -> 2 -> 1: two weight matrices (own block, others) and a bias each."""
    widths = [1, 8, 16, 8, 4, 2, 1]
    return sum(2 * a * b + b for a, b in zip(widths[:-1], widths[1:]))


def test_parameter_formulas_match_the_thesis():
    assert {n: vanilla_params(n) for n in THESIS_VANILLA_PARAMS} == THESIS_VANILLA_PARAMS
    assert shared_params() == THESIS_SHARED_PARAMS


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    out = dict(os.environ)
    out["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax_cache"))
    out["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    out["JAX_PLATFORMS"] = "cpu"
    return out


def script(*args) -> list[str]:
    return [sys.executable, str(SCRIPT), *map(str, args)]


def quick_args(out_dir) -> list[str]:
    return ["--quick", "--checkpoint_every", "1", "--out_dir", str(out_dir)]


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def key(row):
    return (row["model"], int(row["setting"]), int(row["train_size"]), int(row["seed"]))


# absl's INFO line prefix (orbax logs every checkpoint step through absl at INFO).
ABSL_INFO = re.compile(r"^I\d{4} \d\d:\d\d:\d\d")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, env):
    """The uninterrupted quick run, stdout and stderr into one file as under SLURM or nohup: (out_dir, log text)."""
    out_dir = tmp_path_factory.mktemp("task1_quick")
    log_path = out_dir.parent / "task1_quick.log"
    with open(log_path, "w") as log:
        proc = subprocess.run(script(*quick_args(out_dir)), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=300)
    log_text = log_path.read_text()
    assert proc.returncode == 0, log_text[-3000:]
    return out_dir, log_text


@pytest.mark.slow
def test_quick_run_reproduces_the_recorded_numbers(quick_run):
    """The safety net of the driver refactor: the same lanes, bitwise the same numbers (tests/quick_baseline.py)."""
    out_dir, _ = quick_run
    assert_matches(1, out_dir / "results.csv")


@pytest.mark.slow
def test_log_file_shows_progress_and_no_library_info_lines(quick_run):
    """Issue 17: off a terminal, sweep start/end lines and progress lines; no orbax INFO (a checkpoint every epoch)."""
    _, log_text = quick_run
    lines = log_text.splitlines()
    for sweep in (f"n{QUICK_N}_vanilla", f"n{QUICK_N}_shared"):
        assert any(f"{sweep}: started, 8 lanes" in l for l in lines), log_text[-3000:]
        assert any(f"{sweep}: finished, 8 lanes" in l for l in lines), log_text[-3000:]
    assert any(re.search(r"epoch \d+/3, \d+/8 lanes active", l) for l in lines), log_text[-3000:]
    assert not [l for l in lines if ABSL_INFO.match(l)], [l for l in lines if ABSL_INFO.match(l)][:5]


@pytest.mark.slow
def test_quick_run_writes_every_file(quick_run, env):
    out_dir, _ = quick_run
    header, rows = read_csv(out_dir / "results.csv")
    assert header[: len(CONTRACT)] == CONTRACT
    expected = set(itertools.product(MODELS, [QUICK_N], QUICK_SIZES, QUICK_SEEDS))
    assert len(rows) == len(expected) and {key(r) for r in rows} == expected

    with open(out_dir / "results.jsonl") as f:
        json_rows = [json.loads(line) for line in f if line.strip()]
    assert [key(r) for r in json_rows] == [key(r) for r in rows]
    for j, c in zip(json_rows, rows):
        assert j["test_loss"] == float(c["test_loss"]) and j["sym_error"] == float(c["sym_error"])

    flags_txt = (out_dir / "flags.txt").read_text()
    for line in ("--n_blocks=2", "--train_sizes=40,80", "--seeds=0,1", "--max_epochs=3",
                 "--models=vanilla,vanilla_aug,shared,shared_aug"):
        assert line in flags_txt.splitlines(), flags_txt

    report = (out_dir / "report.md").read_text()
    assert "Table 5" in report
    assert f"python experiments/task1.py --quick --checkpoint_every 1 --out_dir {out_dir}" in report
    assert "Machine: " in report and "Wall time of this invocation" in report
    if "xla_force_host_platform_device_count" not in env.get("XLA_FLAGS", ""):  # --cpu_devices=0: one per core
        assert f"devices [cpu: cpu] x{len(os.sched_getaffinity(0))}" in report
    assert "max_epochs 3 instead of 250" in report and "n_blocks 1, 5, 10, 20 not run" in report
    pngs = sorted(out_dir.glob("*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert png.name in report


@pytest.mark.slow
def test_quick_run_metrics(quick_run):
    out_dir, _ = quick_run
    _, rows = read_csv(out_dir / "results.csv")
    for r in rows:
        assert r["task"] == "1" and r["setting"] == str(QUICK_N)
        assert math.isfinite(float(r["test_loss"])) and float(r["test_loss"]) > 0, r
        assert math.isfinite(float(r["sym_error"])) and float(r["sym_error"]) >= 0, r
        assert r["test_acc"] == "" and r["diverged"] == "False", r
        # patience 15 > 3 epochs: every lane trains exactly 3 epochs and keeps its best epoch.
        assert int(r["epochs"]) == QUICK_EPOCHS and 0 <= int(r["best_epoch"]) <= QUICK_EPOCHS, r
        if r["model"].startswith("shared"):
            assert int(r["params"]) == shared_params() == THESIS_SHARED_PARAMS
            # exactly invariant up to float32 rounding
            assert float(r["sym_error"]) < 1e-9, r
        else:
            assert int(r["params"]) == vanilla_params(QUICK_N) == THESIS_VANILLA_PARAMS[QUICK_N]
            assert float(r["sym_error"]) > 1e-9, r
    vanilla = [float(r["sym_error"]) for r in rows if r["model"] == "vanilla"]
    assert sum(vanilla) / len(vanilla) > 1e-4, vanilla


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(quick_run, tmp_path, env):
    reference_dir, _ = quick_run
    out_dir = tmp_path / "task1_killed"
    # A finished step of the shared sweep (its digest file comes after the commit; any step, since step_1
    # is gone once step_3 is saved); the vanilla sweep has its rows.
    shared_steps = out_dir / "checkpoints" / f"n{QUICK_N}_shared"
    proc = subprocess.Popen(script(*quick_args(out_dir)), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not any(shared_steps.glob("step_*/files_sha256.json")) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"run ended before it could be interrupted:\n{stderr[-3000:]}"
    assert any(shared_steps.glob("step_*/files_sha256.json"))
    assert not (out_dir / "report.md").exists()
    _, partial = read_csv(out_dir / "results.csv")
    assert {r["model"] for r in partial} == {"vanilla", "vanilla_aug"} and len(partial) == 8

    # --verbose: orbax's INFO lines come back (issue 17); the shared sweep saves epochs 2 and 3.
    resumed = subprocess.run(script(*quick_args(out_dir), "--resume", "--verbose"), cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    info = [l for l in (resumed.stdout + resumed.stderr).splitlines() if ABSL_INFO.match(l)]
    assert any("checkpoint" in l.lower() for l in info), (resumed.stdout + resumed.stderr)[-3000:]
    report = (out_dir / "report.md").read_text()
    vanilla_line = next(l for l in report.splitlines() if l.startswith(f"| n{QUICK_N}_vanilla |"))
    shared_line = next(l for l in report.splitlines() if l.startswith(f"| n{QUICK_N}_shared |"))
    assert "finished earlier, reused" in vanilla_line, vanilla_line
    assert "resumed at epoch" in shared_line, shared_line

    header, rows = read_csv(out_dir / "results.csv")
    ref_header, ref_rows = read_csv(reference_dir / "results.csv")
    assert header == ref_header
    strip = lambda r: {k: v for k, v in r.items() if k != "wall_s"}  # noqa: E731
    assert [strip(r) for r in rows] == [strip(r) for r in ref_rows]


INVALID = [
    (["--models", "vanilla,mlp"], "--models"),
    (["--train_sizes", "40,0"], "--train_sizes"),
    (["--n_blocks", "0"], "--n_blocks"),
    (["--n_blocks", "2,x"], "--n_blocks"),
    (["--seeds", "a,b"], "--seeds"),
    (["--seeds", "-1"], "--seeds"),
    (["--max_epochs", "0"], "--max_epochs"),
    (["--max_epochs", "x"], "--max_epochs"),
    (["--bogus", "1"], "bogus"),
    (["--lr", "inf"], "--lr"),
    (["--seeds", "0,0"], "--seeds"),
    (["--train_sizes", "40,40"], "--train_sizes"),
    (["--resume", "--overwrite"], "--overwrite"),
    (["extra"], "positional"),
]


@pytest.mark.slow
def test_invalid_flags_give_one_line_errors(tmp_path, env):
    """Exit code 2, one stderr line naming the flag, nothing written (all cases run in parallel)."""
    runs = []
    for i, (args, flag) in enumerate(INVALID):
        out_dir = tmp_path / f"never_{i}"
        proc = subprocess.Popen(script(*args, "--out_dir", out_dir), cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        runs.append((args, flag, out_dir, proc))
    for args, flag, out_dir, proc in runs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, (args, proc.returncode, stderr)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and flag in lines[0], (args, stderr)
        assert stdout == "", (args, stdout)
        assert not out_dir.exists(), args


def _snapshot(folder: Path) -> dict:
    """Every file under folder with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def _one_line_error(proc, flag):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and flag in lines[0], (proc.returncode, proc.stderr[-3000:])
    return lines[0]


@pytest.mark.slow
def test_a_finished_run_is_neither_overwritten_nor_resumed_with_other_settings(quick_run, env):
    """Issue 12 cases 4 and 9: without --resume or --overwrite the run is refused; --resume with another grid
    is refused naming the difference; in both cases nothing in out_dir changes."""
    out_dir, _ = quick_run
    before = _snapshot(out_dir)
    again = subprocess.run(script(*quick_args(out_dir)), cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=120)
    line = _one_line_error(again, "--out_dir")
    assert "--resume" in line and "--overwrite" in line, line
    other = subprocess.run(script(*quick_args(out_dir), "--resume", "--seeds=0,1,2"), cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    line = _one_line_error(other, "--resume")
    assert "seeds: saved [0, 1], now [0, 1, 2]" in line, line
    assert _snapshot(out_dir) == before


def test_out_dir_that_cannot_be_written_is_refused_before_training(tmp_path, env):
    """Issue 12 case 3: an out_dir that is a file, or under a file, ends the script at once."""
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for out_dir in (a_file, a_file / "run"):
        proc = subprocess.run(script("--quick", "--out_dir", out_dir), cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)
        assert "is a file" in _one_line_error(proc, "--out_dir")
    assert a_file.read_text() == "not a folder"
