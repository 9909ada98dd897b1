"""Faults and bad input a new user meets: nothing a run wrote is lost, and every fault is one line.

Four groups, each case failing on the code before these checks:

* data loss: a resume over a smaller grid keeps the rows of the sweeps outside it; a folder of another
  task is refused; two runs on one folder are kept apart by its lock (a killed holder's lock is taken
  over with a notice);
* faults as one line, nothing written before the check: grid checks, files of the wrong kind, full and
  read-only file systems (real ones: a tmpfs and a read-only bind mount, where ``mount`` works; a
  monkeypatched OSError always), Ctrl-C, damaged records, --distributed without a cluster, huge integers;
* silent wrong results: a discovery batch cut to the training set, duplicate size lanes, --report_only
  with another grid, half an MNIST training set, an infinite learning rate;
* files honour the umask; a kill, a Ctrl-C and a resume give the uninterrupted run's numbers.

One finished Task 1 quick run (module fixture) serves every test that needs a run's folder; each copies it.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from symjax import groups
from symjax.io import write_markdown_section
from symjax.tasks import discovery_task as dt
from symjax.tasks import driver, run_dir
from symjax.tasks import run as run_module
from symjax.tasks import set_function_task as t1
from symjax.train import TrainConfig
from symjax.train.checkpoint import FILES_DIGEST_FILE, CheckpointStore
from test_task1 import env  # noqa: F401 (module fixture: the runs' environment, one compilation cache)

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--quick", "--checkpoint_every=1"]


def script(name, *args):
    return [sys.executable, str(REPO / "experiments" / name), *map(str, args)]


def run_script(env, name, *args, timeout=300):
    return subprocess.run(script(name, *args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
                          umask=0o022)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, env):
    """A finished Task 1 quick run (16 rows, sweeps n2_vanilla and n2_shared), made under umask 022."""
    out_dir = tmp_path_factory.mktemp("faults") / "finished"
    proc = run_script(env, "task1.py", *QUICK, "--out_dir", out_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out_dir


def copy_of(finished, tmp_path, name="run") -> Path:
    target = tmp_path / name
    shutil.copytree(finished, target)
    return target


def rows(out_dir) -> list[dict]:
    """results.csv rows without wall_s (the one column that differs between equal runs)."""
    with open(Path(out_dir) / "results.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(f)]


def one_line(proc, *needles, code=2) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code and len(lines) == 1, (proc.returncode, proc.stderr[-3000:])
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def quick_options(out_dir, **changes) -> t1.Options:
    return t1.Options(**{**t1.QUICK, "quick": True, "out_dir": str(out_dir), "quiet": True, **changes})


# ---------------------------------------------------------------------------- data loss
def test_resume_over_fewer_models_keeps_every_row(finished, tmp_path, capsys):
    out_dir = copy_of(finished, tmp_path)
    driver.run(t1.TASK, quick_options(out_dir, resume=True, quiet=False, models=("vanilla", "vanilla_aug")))
    assert "keeping 8 rows of sweeps outside this run's grid: n2_shared" in capsys.readouterr().out
    assert rows(out_dir) == rows(finished)  # all 16, in the order of the first run
    with open(out_dir / "results.jsonl") as f:
        assert len(f.readlines()) == 16
    report = (out_dir / "report.md").read_text()
    assert "| n2_shared | 8 | 3 |" in report and "kept from an earlier invocation" in report


def test_resume_over_other_n_blocks_keeps_the_earlier_rows(finished, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    new = driver.run(t1.TASK, quick_options(out_dir, resume=True, n_blocks=(1,), models=("vanilla",),
                                            train_sizes=(40,), seeds=(0,), max_epochs=1))
    assert [(r["model"], r["setting"]) for r in new[:1]] == [("vanilla", 1)] and len(new) == 1 + 16
    after = rows(out_dir)
    assert after[1:] == rows(finished)  # the n2 rows, unchanged, after the new n1 row
    assert (after[0]["model"], after[0]["setting"], after[0]["train_size"]) == ("vanilla", "1", "40")


def test_another_tasks_folder_is_refused_whatever_the_mode(finished, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    before = snapshot(out_dir)
    for mode in ({"resume": True}, {"overwrite": True}, {"report_only": True}):
        opts = dt.TASKS["set_sum"].options(**{**dt.TASKS["set_sum"].quick, "out_dir": str(out_dir), "quiet": True,
                                              **mode})
        with pytest.raises(driver.BadInput, match=r"--out_dir=.* holds a run of task1 .*not of discovery_set_sum"):
            driver.run(dt.TASKS["set_sum"], opts)
    assert snapshot(out_dir) == before


def test_a_second_run_on_a_locked_folder_names_the_holder_and_exits_2(tmp_path, env):
    out_dir = tmp_path / "fresh"
    lock = run_dir.RunLock.acquire(str(out_dir), "the first run")
    try:
        proc = run_script(env, "task1.py", *QUICK, "--out_dir", out_dir, "--lr=0.01")
        line = one_line(proc, f"--out_dir={out_dir} is in use by another run", f"pid {os.getpid()} on host",
                        "started ")
        with pytest.raises(driver.BadInput, match=f"pid {os.getpid()}"):
            driver.run(t1.TASK, quick_options(out_dir))
    finally:
        lock.release()
    assert "--lr" not in line
    assert not out_dir.exists()  # the lock removed the folder it created, and the refused runs wrote nothing


def test_lock_is_exclusive_and_released(tmp_path):
    first = run_dir.RunLock.acquire(str(tmp_path / "d"))
    with pytest.raises(ValueError, match="in use by another run"):
        run_dir.RunLock.acquire(str(tmp_path / "d"))
    first.release()
    second = run_dir.RunLock.acquire(str(tmp_path / "d"))
    assert second.notice is None  # released cleanly: nothing stale to take over
    second.release()


def test_kill_interrupt_and_resume_give_the_uninterrupted_numbers(finished, tmp_path, env):
    """SIGINT: one line, exit 130; SIGKILL: a stale lock, taken over with a notice by the resume; the final
    results equal the uninterrupted run's (the module fixture) row for row."""
    # Any finished step of the sweep: step_1 alone is gone once step_3 is saved (2 kept).
    def start(out_dir, sweep, *extra):
        steps = out_dir / "checkpoints" / sweep
        proc = subprocess.Popen(script("task1.py", *QUICK, "--out_dir", out_dir, *extra), cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while not any(steps.glob(f"step_*/{FILES_DIGEST_FILE}")) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before a step of {sweep} was seen"
        return proc

    # A poll starved by the run's threads on 2 cores can wake when the run is already ending; a signal sent
    # then lands after the run's last Python instruction (exit 0, nothing printed). Then it starts again.
    for attempt in range(3):
        out_dir = tmp_path / f"killed_{attempt}"
        proc = start(out_dir, "n2_vanilla")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        if not (proc.returncode == 0 and not stderr.strip()):
            break
    lines = stderr.strip().splitlines()
    assert proc.returncode == 130 and len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith("task1.py: interrupted at epoch ") and "of sweep n2_vanilla" in lines[0]
    assert lines[0].endswith("; resume with --resume")
    assert not (out_dir / run_dir.LOCK_FILE).exists()  # released on the way out

    proc = start(out_dir, "n2_shared", "--resume")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    holder = json.loads((out_dir / run_dir.LOCK_FILE).read_text())
    assert holder["pid"] == proc.pid

    resumed = run_script(env, "task1.py", *QUICK, "--out_dir", out_dir, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    notice = [l for l in resumed.stderr.splitlines() if "taking over the lock" in l]
    assert len(notice) == 1 and f"pid {proc.pid}" in notice[0] and "no longer running" in notice[0], resumed.stderr
    assert "Traceback" not in resumed.stderr and "not finalized" not in resumed.stderr
    assert rows(out_dir) == rows(finished)
    assert not (out_dir / run_dir.LOCK_FILE).exists()


# ---------------------------------------------------------------------------- faults as one line
def test_task2_grid_checks_come_before_anything_is_written(tmp_path, env):
    runs = []
    for i, (args, needle) in enumerate([(["--batch_size=1000"], "--batch_size"),
                                        (["--data_sizes=10"], "--batch_size (or larger training sets)")]):
        out_dir = tmp_path / f"task2_{i}"
        runs.append((out_dir, needle, subprocess.Popen(script("task2.py", "--quick", *args, "--out_dir", out_dir),
                                                       cwd=REPO, env=env, stdout=subprocess.PIPE,
                                                       stderr=subprocess.PIPE, text=True)))
    for out_dir, needle, proc in runs:
        _, stderr = proc.communicate(timeout=300)
        one_line(subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr), needle,
                 "expected batch_size <= train size")
        assert not out_dir.exists()  # no sweep.json to block the corrected run


def _prepare_fault(tmp_path, finished, kind) -> tuple[dict, str]:
    """Options changes that meet one file-system fault, and the text the one-line error names."""
    if kind == "out_dir is a dangling link":
        (tmp_path / "link").symlink_to(tmp_path / "nowhere")
        return {"out_dir": str(tmp_path / "link")}, "is a dangling link"
    if kind == "checkpoints is a file":
        out_dir = copy_of(finished, tmp_path)
        shutil.rmtree(out_dir / "checkpoints")
        (out_dir / "checkpoints").write_text("x")
        return {"out_dir": str(out_dir), "resume": True}, "checkpoints is a file"
    if kind == "results.csv is a folder":
        out_dir = copy_of(finished, tmp_path)
        (out_dir / "results.csv").unlink()
        (out_dir / "results.csv").mkdir()
        return {"out_dir": str(out_dir), "resume": True}, "results.csv is a folder"
    if kind == "compile_cache is a file":
        (tmp_path / "file").write_text("x")
        return {"out_dir": str(tmp_path / "new"), "compile_cache": str(tmp_path / "file")}, "--compile_cache="
    if kind == "compile_cache is a dangling link":
        (tmp_path / "link").symlink_to(tmp_path / "nowhere")
        return {"out_dir": str(tmp_path / "new"), "compile_cache": str(tmp_path / "link")}, "dangling link"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["out_dir is a dangling link", "checkpoints is a file", "results.csv is a folder",
                                  "compile_cache is a file", "compile_cache is a dangling link"])
def test_file_system_faults_around_the_folders_are_one_line(finished, tmp_path, monkeypatch, kind):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    changes, needle = _prepare_fault(tmp_path, finished, kind)
    before = snapshot(tmp_path)
    with pytest.raises(driver.BadInput, match=needle) as error:
        driver.run(t1.TASK, quick_options(**changes))
    assert "\n" not in str(error.value)
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


def _mount(*args) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def tmpfs(tmp_path):
    """A 64 KiB tmpfs (a disk that fills), or a skip where this machine cannot mount one."""
    where = tmp_path / "small_disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or not _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs",
                                                                       str(where)):
        pytest.skip("mounting a tmpfs needs root and mount (the monkeypatched test covers a full disk)")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_is_one_line_and_the_lock_is_released(tmpfs, env):
    out_dir = tmpfs / "run"
    proc = run_script(env, "task1.py", *QUICK, "--out_dir", out_dir)
    line = one_line(proc, f"--out_dir={out_dir}: cannot write", "no space left on the device",
                    "continue with --resume")
    assert "Event loop is closed" not in proc.stderr and "Traceback" not in proc.stderr, line
    assert not (out_dir / run_dir.LOCK_FILE).exists()


@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "no space left on the device"),
                                        (errno.EROFS, "the file system is read-only")])
def test_a_write_failing_mid_run_is_one_line(tmp_path, monkeypatch, code, text):
    """The same faults without a mount: the sweep's record cannot be written (the first write of a sweep)."""
    def full(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(run_module, "atomic_write_json", full)
    out_dir = tmp_path / "run"
    with pytest.raises(driver.WriteFailed, match=f"cannot write .*sweep.json.*: {text}.*; what was written is kept"):
        driver.run(t1.TASK, quick_options(out_dir))
    assert not (out_dir / run_dir.LOCK_FILE).exists()


def test_an_orbax_save_on_a_full_disk_becomes_an_oserror(tmp_path, monkeypatch):
    """tensorstore reports a full disk as ValueError('RESOURCE_EXHAUSTED ... [os_error_code=28]')."""
    store = CheckpointStore(str(tmp_path / "ck"), {"run": 1}, keep=2)

    def save(step, *args, **kwargs):
        os.makedirs(tmp_path / "ck" / f"step_{step}.orbax-checkpoint-tmp", exist_ok=True)
        raise ValueError("RESOURCE_EXHAUSTED: Failed writing: \"x\": No space left on device [os_error_code='28']")

    monkeypatch.setattr(store.manager, "save", save)
    with pytest.raises(OSError) as error:
        store.save(1, {"w": np.zeros(3, np.float32)})
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(tmp_path / "ck" / "step_1")
    assert os.listdir(tmp_path / "ck") == []  # the unfinished save's folder is gone (its space given back)


def test_out_dir_remounted_read_only_mid_run_is_one_line(tmp_path, env):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    if os.geteuid() != 0 or not _mount("--bind", str(out_dir), str(out_dir)):
        pytest.skip("a read-only bind mount needs root and mount (the monkeypatched test covers EROFS)")
    subprocess.run(["umount", str(out_dir)], check=True)
    marker = out_dir / "checkpoints" / "n2_vanilla" / "step_1" / FILES_DIGEST_FILE
    proc = subprocess.Popen(script("task1.py", *QUICK, "--out_dir", out_dir, "--max_epochs=30"),
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    try:
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _mount("--bind", str(out_dir), str(out_dir))
        # A remount to read-only fails (EBUSY) while the run holds a file open for writing: retry between writes.
        retry_until = time.monotonic() + 30
        while not (read_only := _mount("-o", "remount,bind,ro", str(out_dir))) and proc.poll() is None \
                and time.monotonic() < retry_until:
            time.sleep(0.002)
        if not read_only:
            proc.kill()
            proc.communicate()
            pytest.skip("the run kept a file open for writing whenever the remount was tried")
        _, stderr = proc.communicate(timeout=120)
    finally:
        subprocess.run(["umount", str(out_dir)], check=False)
    lines = stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, stderr[-3000:]
    assert "the file system is read-only" in lines[0] and "continue with --resume" in lines[0]


def test_ctrl_c_during_a_checkpoint_save_lands_after_it(tmp_path, monkeypatch):
    store = CheckpointStore(str(tmp_path / "ck"), {"run": 1}, keep=2)
    real_save = store.manager.save

    def interrupted_save(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(store.manager, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        store.save(1, {"w": np.arange(3, dtype=np.float32)})
    assert store.restore_latest({"w": np.zeros(3, np.float32)})[0] == 1  # the save finished first
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_unfinished_save_is_removed_with_our_own_warning(tmp_path, caplog):
    store = CheckpointStore(str(tmp_path / "ck"), {"run": 1}, keep=2)
    store.save(1, {"w": np.ones(3, np.float32)})
    (tmp_path / "ck" / "step_2.orbax-checkpoint-tmp").mkdir()  # a run killed while saving epoch 2
    with pytest.warns(UserWarning, match=r"removing 1 unfinished checkpoint save\(s\) \['step_2.orbax-checkpoint-tmp'\]"):
        assert store.restore_latest({"w": np.zeros(3, np.float32)})[0] == 1
    with caplog.at_level("WARNING"):
        store.save(2, {"w": np.ones(3, np.float32)})
    assert not [r for r in caplog.records if "not finalized" in r.getMessage()]


def test_damaged_results_and_records_are_refused_without_rewriting_them(finished, tmp_path):
    out_dir = copy_of(finished, tmp_path)
    results = out_dir / "results.jsonl"
    results.write_text(results.read_text()[:300])
    with pytest.raises(driver.BadInput, match=r"--report_only: .*results.jsonl: line 2 is not valid JSON"):
        driver.run(t1.TASK, quick_options(out_dir, report_only=True))
    shutil.rmtree(out_dir)
    out_dir = copy_of(finished, tmp_path)
    record = out_dir / "checkpoints" / "n2_shared" / "sweep.json"
    record.write_text(record.read_text()[:100])
    before = snapshot(out_dir)
    with pytest.raises(driver.BadInput, match=r"--resume: .*n2_shared/sweep.json is damaged"):
        driver.run(t1.TASK, quick_options(out_dir, resume=True))
    assert snapshot(out_dir) == before


def test_distributed_without_a_cluster_is_one_line(monkeypatch):
    for name in [k for k in os.environ if k.startswith(("SLURM_", "JAX_COORDINATOR", "TPU_"))]:
        monkeypatch.delenv(name)
    with pytest.raises(driver.BadInput, match=r"--distributed: expected a cluster .*got: "):
        driver.initialize_distributed()


def test_cpu_devices_after_jax_started_is_one_line(tmp_path):
    jax.devices()  # this test process's backends have started
    driver.use_cpu_devices(0)  # the default leaves a started backend as it is
    with pytest.raises(driver.BadInput, match=r"--cpu_devices=3: expected to be set before JAX starts"):
        driver.use_cpu_devices(3)
    with pytest.raises(driver.BadInput, match=r"--cpu_devices"):
        t1.run(quick_options(tmp_path / "never", cpu_devices=-1))
    with pytest.raises(driver.BadInput, match=r"--lane_placement: expected 'auto', 'groups' or 'shard', got 'x'"):
        t1.run(quick_options(tmp_path / "never", lane_placement="x"))
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("changes, flag", [
    ({"max_epochs": 2**64}, "--max_epochs"), ({"patience": 2**63}, "--patience"), ({"seeds": (2**64,)}, "--seeds"),
    ({"n_blocks": (2**70,)}, "--n_blocks"), ({"seeds": 3}, "--seeds"),
])
def test_integers_past_int64_and_a_bare_seed_count_are_refused(tmp_path, changes, flag):
    with pytest.raises(driver.BadInput, match=flag):
        t1.run(quick_options(tmp_path / "never", **changes))
    with pytest.raises(ValueError, match="--seeds: expected a count of at most"):
        driver.parse_seeds(str(2**64))
    with pytest.raises(driver.BadInput, match=r"--seeds: expected a tuple of integers, got int 3"):
        t1.run(seeds=3, out_dir=str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_groups_check_their_arguments_at_once():
    with pytest.raises(TypeError, match=r"symmetric\(n\) needs an integer n >= 1; got bool True"):
        groups.symmetric(True)
    with pytest.raises(TypeError, match="direct_product: g2 must be a PermutationGroup; got str"):
        groups.direct_product(groups.cyclic(3), "x")
    with pytest.raises(ValueError, match=r"cyclic\(n\) needs an integer n >= 1; got 0"):
        groups.cyclic(0)


# ---------------------------------------------------------------------------- silent wrong results
def test_report_only_uses_the_runs_own_options_and_refuses_others(finished, tmp_path):
    from absl import flags

    out_dir = copy_of(finished, tmp_path)
    before = (out_dir / "report.md").read_text()

    def options(*args):
        values = flags.FlagValues()
        driver.define_flags(t1.Options, values)
        values(["task1.py", f"--out_dir={out_dir}", "--report_only", "--quiet", *args])
        return driver.options_from_flags(t1.TASK, values)

    with pytest.raises(driver.BadInput, match=r"--report_only: --n_blocks=5 \(the run's: --n_blocks=2\) differs"):
        driver.run(t1.TASK, options("--n_blocks=5"))
    assert (out_dir / "report.md").read_text() == before
    opts = options()  # no --quick: every option the flags leave open is the run's own, from its flags.txt
    assert (opts.n_blocks, opts.train_sizes, opts.seeds, opts.max_epochs) == ((2,), (40, 80), (0, 1), 3)
    driver.run(t1.TASK, opts)
    report = (out_dir / "report.md").read_text()
    assert "not finished" not in report and "| n2_shared | 8 | 3 |" in report


def _set_sum(**changes):
    task = dt.TASKS["set_sum"]
    return task.options(**{**task.quick, **changes})


def test_discovery_refuses_a_batch_above_a_training_set_and_repeated_sizes():
    with pytest.raises(ValueError, match=r"--batch_size: expected at most the smallest training-set size 32 "
                                         r"\(--train_sizes\), got 1000"):
        _set_sum(batch_size=1000).validate()
    with pytest.raises(ValueError, match=r"--train_sizes: expected distinct sizes, got \[0, 96\] \(0 = all 96"):
        _set_sum(train_sizes=(0, 96)).validate()
    task, opts = dt.TASKS["set_sum"], _set_sum(batch_size=32)
    plan = task.plan_sweeps(opts)[0]
    data = task.load_data(opts)
    lanes = task.build_lanes(opts, plan, data, task.build_pool(opts, plan, data))
    assert {lane.batch_size for lane in lanes} == {32}  # the batch the report names, also for the 32-example lanes


def test_a_sweep_without_lambda_lanes_is_not_compared_on_lams():
    task = dt.TASKS["degree"]
    models = ("generic", "soft", "hard", "gcn")
    base = task.options(**{**task.quick, "models": models})
    other = task.options(**{**task.quick, "models": models, "lams": (3.0,), "l1": 0.5})
    compared = {}
    for plan in task.plan_sweeps(base):
        compared[plan.name] = driver.sweep_settings(task, base, plan) != driver.sweep_settings(task, other, plan)
    assert compared == {"generic": False, "soft": True, "hard": False, "gcn": False}  # soft alone has λ lanes


@pytest.fixture
def mnist_dir(tmp_path):
    from symjax.data import mnist

    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in mnist.TEST_FILES:
        shutil.copy(mnist.SHARED_MNIST_DIR / name, folder / name)
    return folder


def test_half_an_mnist_training_set_is_refused(mnist_dir):
    from symjax.data import mnist

    (mnist_dir / mnist.TRAIN_FILES[0]).write_bytes(b"")
    with pytest.raises(mnist.DatasetNotFoundError, match=f"has {mnist.TRAIN_FILES[0]} but not "
                                                          f"{mnist.TRAIN_FILES[1]}"):
        mnist.load_mnist(mnist_dir)


def test_an_mnist_error_names_where_the_folder_came_from(mnist_dir, monkeypatch):
    from symjax.data import mnist

    for name in mnist.TRAIN_FILES:
        (mnist_dir / name).write_bytes(b"")
    monkeypatch.setenv(mnist.ENV_VAR, str(mnist_dir))
    task = dt.TASKS["mnist"]
    opts = task.options(**task.quick)
    with pytest.raises(ValueError, match=r"^\$SYMJAX_MNIST_DIR: .*train-images"):
        task.load_data(opts)
    with pytest.raises(ValueError, match=r"^--data_dir: .*train-images"):
        task.load_data(dataclasses_replace(opts, data_dir=str(mnist_dir)))


def dataclasses_replace(opts, **changes):
    import dataclasses

    return dataclasses.replace(opts, **changes)


@pytest.mark.parametrize("rate", [float("inf"), float("nan"), 0.0, True])
def test_train_config_refuses_a_learning_rate_that_cannot_train(rate):
    with pytest.raises(ValueError, match="TrainConfig.learning_rate: expected a finite number > 0"):
        TrainConfig(loss="mse", learning_rate=rate)


# ---------------------------------------------------------------------------- permissions
def test_results_and_figures_follow_the_umask(finished, tmp_path):
    for name in ("results.csv", "results.jsonl", "flags.txt", "report.md", "fig4_task1_loss_sym.png"):
        assert stat.S_IMODE((finished / name).stat().st_mode) == 0o644, name  # the run's umask was 022
    from symjax.io import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


def _legacy_step(directory, epoch, state, fingerprint):
    """A step as saved before the CheckpointManager: the leaves at the step's root, fingerprint.json beside them."""
    import orbax.checkpoint as ocp

    from symjax.train.checkpoint import LEGACY_FINGERPRINT_FILE, _digest, _files_digest

    path = os.path.join(directory, f"step_{epoch}")
    leaves = list(state.values())
    ocp.Checkpointer(ocp.StandardCheckpointHandler()).save(path, {f"{i:05d}": a for i, a in enumerate(leaves)})
    with open(os.path.join(path, LEGACY_FINGERPRINT_FILE), "w") as f:
        json.dump({"fingerprint": fingerprint, "epoch": epoch, "state_sha256": _digest(leaves),
                   "files_sha256": _files_digest(path), "wall_s": 7.0}, f)
    return path


def test_steps_saved_before_the_checkpoint_manager_still_resume(tmp_path):
    """A run interrupted under the earlier layout continues from its newest step; a damaged one is skipped."""
    directory = str(tmp_path / "ck")
    state = {"w": np.arange(3, dtype=np.float32)}
    _legacy_step(directory, 2, state, {"run": 1})
    damaged = _legacy_step(directory, 4, state, {"run": 1})
    with open(os.path.join(damaged, "_METADATA"), "a") as f:
        f.write(" ")
    store = CheckpointStore(directory, {"run": 1}, keep=2)
    with pytest.warns(UserWarning, match=r"skipping checkpoint .*step_4: its files do not match fingerprint.json"):
        epoch, restored, wall_s = store.restore_latest({"w": np.zeros(3, np.float32)})
    assert (epoch, wall_s) == (2, 7.0) and np.array_equal(restored["w"], state["w"])
    store.save(4, restored)  # the resumed run replaces the damaged step in the new layout
    assert store.steps() == [4, 2] and store.restore_latest({"w": np.zeros(3, np.float32)})[0] == 4
    with pytest.raises(ValueError, match="written by a different run"):
        CheckpointStore(directory, {"run": 2}, keep=2).restore_latest({"w": np.zeros(3, np.float32)})


def test_write_markdown_section_replaces_its_section_and_keeps_the_others_apart(tmp_path):
    path = tmp_path / "bench.md"
    write_markdown_section(path, "## A\n\nfirst\n")
    write_markdown_section(path, "## B\n\nsecond\n")
    assert path.read_text() == "# Benchmarks\n\n## A\n\nfirst\n\n## B\n\nsecond\n"
    write_markdown_section(path, "## A\n\nreplaced\n")  # a section written again keeps its place and its gap
    assert path.read_text() == "# Benchmarks\n\n## A\n\nreplaced\n\n## B\n\nsecond\n"
    write_markdown_section(path, "## B\n\nlast\n")
    assert path.read_text() == "# Benchmarks\n\n## A\n\nreplaced\n\n## B\n\nlast\n"
