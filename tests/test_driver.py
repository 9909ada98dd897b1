"""The experiment driver (symjax/tasks/driver.py) without training: flags -> options, --quick, checks before any
compilation, resume settings, grid differences, flags.txt. The end-to-end runs are in tests/test_task*.py."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from absl import flags

from symjax.tasks import driver
from symjax.tasks import graph_task as t2
from symjax.tasks import set_function_task as t1
from symjax.tasks import three_body_task as t3

REPO = Path(__file__).resolve().parents[1]


def parse(task, *args):
    """Fresh absl flags of the task, parsed from args, and the options they give."""
    values = flags.FlagValues()
    driver.define_flags(task.options, values)
    values(["script", *args])
    return driver.options_from_flags(task, values)


def test_defaults_are_the_study_grid_and_quick_keeps_explicit_flags():
    assert parse(t2.TASK) == t2.Options()
    assert (t2.Options().hidden, t2.Options().data_sizes, t2.Options().seeds) == ((3, 5, 7), (500, 1500, 4110),
                                                                                  (0, 1, 2))
    quick = parse(t2.TASK, "--quick")
    assert (quick.hidden, quick.seeds, quick.max_epochs, quick.batch_size, quick.x64) == ((3,), (0,), 5, 16, True)
    # The issue's example: every flag set on the command line wins over the quick grid.
    mixed = parse(t2.TASK, "--quick", "--seeds=3", "--hidden=5,7", "--max_epochs=50")
    assert (mixed.hidden, mixed.seeds, mixed.max_epochs) == ((5, 7), (0, 1, 2), 50)
    assert (mixed.data_sizes, mixed.batch_size) == ((200,), 16)  # not set: the quick grid's
    assert parse(t1.TASK, "--quick", "--lane_groups=shape", "--seeds=0,5").seeds == (0, 5)
    assert parse(t1.TASK, "--quick", "--lane_groups=shape").lane_groups == "shape"


def test_engine_settings_reach_the_train_config():
    opts = parse(t1.TASK, "--lane_groups=auto", "--compile_cache=off")
    config = driver.train_config(t1.TASK, opts, t1.TASK.plan_sweeps(opts)[0])
    assert (config.execution.lane_groups, config.quiet) == ("auto", True)
    assert not hasattr(config, "compile_cache")  # JAX's cache is the application's: the driver sets it


def test_fusion_emitters_follow_the_task_unless_a_flag_says_otherwise():
    # 'auto': on for the architectures the task lists (Task 2's dense vanilla), off elsewhere; 'on' / 'off' win.
    plans = {p.architecture: p for p in t2.TASK.plan_sweeps(parse(t2.TASK, "--hidden=3"))}
    assert {"vanilla", "shared"} <= set(plans)
    for flag, want in [("auto", {"vanilla": True, "shared": False}), ("on", {"vanilla": True, "shared": True}),
                       ("off", {"vanilla": False, "shared": False})]:
        opts = parse(t2.TASK, "--hidden=3", f"--cpu_fusion_emitters={flag}")
        for arch, on in want.items():
            assert driver.train_config(t2.TASK, opts, plans[arch]).execution.cpu_fusion_emitters is on
    task1_opts = parse(t1.TASK)
    assert not driver.train_config(t1.TASK, task1_opts, t1.TASK.plan_sweeps(task1_opts)[0]).execution.cpu_fusion_emitters
    with pytest.raises(ValueError, match=r"--cpu_fusion_emitters: expected 'auto', 'on' or 'off', got 'yes'"):
        t1.Options(cpu_fusion_emitters="yes").validate()


@pytest.mark.parametrize("args, flag", [
    (["--seeds=0,0"], "--seeds"), (["--seeds=x"], "--seeds"), (["--lr=inf"], "--lr"), (["--lr=nan"], "--lr"),
    (["--lr=0"], "--lr"), (["--n_blocks=2,2"], "--n_blocks"), (["--n_blocks=2,x"], "--n_blocks"),
    (["--models=vanilla,vanilla"], "--models"), (["--models=mlp"], "--models"), (["--max_epochs=0"], "--max_epochs"),
    (["--resume", "--overwrite"], "--overwrite"), (["--out_dir="], "--out_dir"),
    (["--compile_cache="], "--compile_cache"),
])
def test_bad_options_name_the_flag(args, flag):
    with pytest.raises(ValueError, match=flag):
        parse(t1.TASK, *args).validate()


def test_out_dir_check_creates_nothing(tmp_path):
    driver.check_out_dir(str(tmp_path / "new" / "deeper"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(ValueError, match=r"--out_dir=.*is a file"):
            driver.check_out_dir(str(bad))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_out_dir_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="not writable"):
            driver.check_out_dir(str(tmp_path / "run"))
    finally:
        tmp_path.chmod(0o755)


def _write_record(opts, plan, settings, rows=None):
    path = Path(driver.record_path(opts, plan))
    path.parent.mkdir(parents=True)
    driver.atomic_write_json(path, {"settings": settings, "rows": rows})
    return path


def test_prepare_refuses_an_earlier_run_and_other_settings_deleting_nothing(tmp_path):
    opts = t1.Options(n_blocks=(2,), train_sizes=(40,), seeds=(0, 1), out_dir=str(tmp_path))
    plan = t1.plan_sweeps(opts)[0]
    record = _write_record(opts, plan, driver.sweep_settings(t1.TASK, opts, plan), rows=[])
    before = record.read_bytes()
    with pytest.raises(driver.BadInput, match="holds an earlier run .*--resume .*--overwrite"):
        driver.prepare(t1.TASK, opts)
    assert [p.name for p in driver.prepare(t1.TASK, dataclasses.replace(opts, overwrite=True))] == ["n2_vanilla",
                                                                                                   "n2_shared"]
    assert driver.prepare(t1.TASK, dataclasses.replace(opts, resume=True))
    # More epochs continue the sweep; other seeds or another learning rate are a different run.
    assert driver.prepare(t1.TASK, dataclasses.replace(opts, resume=True, max_epochs=500))
    with pytest.raises(driver.BadInput, match=r"sweep n2_vanilla \(seeds: saved \[0, 1\], now \[0, 1, 2\]\)"):
        driver.prepare(t1.TASK, dataclasses.replace(opts, resume=True, seeds=(0, 1, 2)))
    with pytest.raises(driver.BadInput, match="lr: saved 0.001, now 0.01"):
        driver.prepare(t1.TASK, dataclasses.replace(opts, resume=True, lr=0.01))
    # Adding an n_blocks extends the run: the saved sweep's settings do not depend on the others.
    assert driver.prepare(t1.TASK, dataclasses.replace(opts, resume=True, n_blocks=(2, 5)))
    assert record.read_bytes() == before and sorted(p.name for p in tmp_path.rglob("*")) == [
        "checkpoints", "n2_vanilla", "sweep.json"]


def test_grid_differences_against_the_study():
    opts = t1.Options(n_blocks=(2, 3), seeds=(0,), max_epochs=3, early_stopping=False, quiet=True, out_dir="x")
    assert driver.grid_differences(opts, t1.Options(), t1.TASK.labels) == [
        "1 seed(s) [0] instead of 3", "max_epochs 3 instead of 250", "early_stopping off (study: on)",
        "n_blocks 1, 5, 10, 20 not run (study: 1, 2, 5, 10, 20)", "n_blocks 3 are not in the study"]
    assert driver.grid_differences(t1.Options(out_dir="elsewhere", resume=True), t1.Options()) == []


def test_flags_text_lists_every_option():
    opts = t1.Options(n_blocks=(2,), seeds=(0, 1))
    lines = driver.options_text(opts, "python experiments/task1.py --n_blocks=2").splitlines()
    assert lines[0] == "# python experiments/task1.py --n_blocks=2"
    assert "--n_blocks=2" in lines and "--seeds=0,1" in lines and "--lr=0.001" in lines
    assert len(lines) == 1 + len(dataclasses.fields(opts))


# ---------------------------------------------------------------------------- a fourth task, in process
@dataclasses.dataclass(frozen=True)
class ToyOptions(driver.CommonOptions):
    """A regression task outside the study: y = sum(x) from x in R^3, two learning rates per sweep."""

    MODELS = ("linear",)

    models: tuple = driver.option(("linear",), "")
    rates: tuple = driver.option((0.1, 0.01), "Per-lane Adam learning rates.")
    max_epochs: int = driver.option(2, "")
    checkpoint_every: int = driver.option(1, "")
    quiet: bool = driver.option(True, "")


class ToyTask(driver.Task):
    """Regression with per-lane learning rates and its own report (records each report it writes)."""

    name, number, script, options, quick, loss = "toy", 4, "toy.py", ToyOptions, {}, "mse"
    plan_fields = ("models",)

    def __init__(self, reports: list):
        self.reports = reports

    def plan_sweeps(self, opts):
        return [driver.SweepPlan("linear", 3, "linear", ("linear",))]

    def load_data(self, opts):
        return None

    def build_pool(self, opts, plan, data):
        import numpy as np

        x = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
        return x, x.sum(axis=1, keepdims=True)

    def build_lanes(self, opts, plan, data, pool):
        import numpy as np

        from symjax.train import Lane

        idx = np.arange(60)
        return [Lane(seed=s, train_idx=idx[:40], val_idx=idx[40:50], test_idx=idx[50:], batch_size=8,
                     learning_rate=rate, meta={"task": 4, "model": "linear", "setting": 3, "sweep": plan.name,
                                               "rate": rate})
                for s in opts.seeds for rate in opts.rates]

    def lane_fns(self, opts, plan, data):
        import jax.numpy as jnp

        from symjax.train import LaneFns

        return LaneFns(init=lambda key: {"w": jnp.zeros((3, 1))}, apply=lambda p, x: x @ p["w"])

    def notes(self, opts, data):
        return ["toy data"]

    def write_report(self, opts, rows, extra_md):
        self.reports.append((len(rows), extra_md))
        return []


def test_a_task_must_implement_the_contract():
    """Task is abstract: a subclass that leaves a method of the contract out cannot be made."""
    class Partial(driver.Task):
        def plan_sweeps(self, opts):
            return []

    with pytest.raises(TypeError, match="abstract"):
        Partial()


def test_a_new_task_runs_through_the_driver_and_resumes_by_reuse(tmp_path):
    """Any task (here: regression with per-lane learning rates and its own report) gets results after the sweep,
    a sweep record, the run section of its report, and reuse of the finished sweep with --resume."""
    import numpy as np

    from symjax.train import read_results

    reports = []
    task = ToyTask(reports)
    opts = ToyOptions(seeds=(0,), out_dir=str(tmp_path))
    rows = driver.run(task, opts)
    assert [(r["rate"], r["epochs"]) for r in rows] == [(0.1, 2), (0.01, 2)]
    assert rows[0]["test_loss"] != rows[1]["test_loss"]  # the rate is per lane
    assert read_results(str(tmp_path)) == rows
    record = driver.read_json(driver.record_path(opts, task.plan_sweeps(opts)[0]))
    assert record["rows"] == rows and record["settings"]["options"]["rates"] == [0.1, 0.01]
    assert reports[0][0] == 2 and "- toy data" in reports[0][1] and "| linear | 2 | 2 |" in reports[0][1]
    with pytest.raises(driver.BadInput, match="holds an earlier run"):
        driver.run(task, opts)
    again = driver.run(task, dataclasses.replace(opts, resume=True))
    assert again == rows and "finished earlier, reused" in reports[1][1]
    assert np.isfinite([r["test_loss"] for r in again]).all()
    assert driver.run(task, dataclasses.replace(opts, report_only=True)) == rows  # trains nothing
    assert "report rewritten from the results" in reports[2][1] and "| linear | 2 | 2 |" in reports[2][1]
    assert driver.recorded_command(str(tmp_path)) is None  # called from Python: flags.txt has no command line
    (tmp_path / "flags.txt").write_text("# python toy.py --seeds=0\n--seeds=0\n")
    driver.run(task, dataclasses.replace(opts, report_only=True), command="python toy.py --report_only")
    assert "- Command: `python toy.py --seeds=0`\n- Report rewritten from the run's results by `python toy.py " \
           "--report_only`" in reports[3][1]


@pytest.mark.parametrize("module", [t1, t2, t3])
def test_settings_study_sets_every_departure_and_explicit_flags_win(module):
    task = module.TASK
    assert task.study, "every task lists at least one departure with the study's value"
    project = parse(task)
    study = parse(task, "--settings=study")
    for departure in module.DEPARTURES:
        assert getattr(project, departure.flag) == getattr(module.Options(), departure.flag)  # defaults unchanged
        if departure.study is not None:
            assert getattr(study, departure.flag) == departure.study
        else:
            assert getattr(study, departure.flag) == getattr(project, departure.flag)
    assert study.augment_per == "batch" and project.augment_per == "example"
    explicit = parse(task, "--settings=study", "--augment_per=example")
    assert explicit.augment_per == "example"
    assert study.settings == "study" and "--settings=study" in driver.options_text(study, None).splitlines()
    # --quick and --settings=study together: the quick grid with the study's settings.
    both = parse(task, "--quick", "--settings=study")
    assert both.augment_per == "batch" and both.max_epochs == task.quick["max_epochs"]
    # The engine receives the draw mode.
    plan = task.plan_sweeps(both)[0]
    assert driver.train_config(task, both, plan).augment_per == "batch"
    assert driver.train_config(task, project, plan).augment_per == "example"


def test_departure_flags_are_not_grid_differences():
    opts = parse(t3.TASK, "--settings=study")
    assert driver.grid_differences(opts, t3.Options(), t3.TASK.labels, skip={d.flag for d in t3.DEPARTURES}) == []
    with pytest.raises(ValueError, match=r"--augment_per: expected 'example' or 'batch', got 'epoch'"):
        t1.Options(augment_per="epoch").validate()
    with pytest.raises(ValueError, match=r"--settings: expected one of \['project', 'study'\], got 'thesis'"):
        t1.Options(settings="thesis").validate()


def test_the_driver_sets_the_compile_cache_before_training_and_sweep_does_not(tmp_path, monkeypatch):
    """--compile_cache is the application's choice: the driver calls compile_cache.use once per run, before the
    first sweep; the engine's sweep() leaves JAX's global cache alone."""
    from symjax.train import compile_cache, engine

    calls = []
    monkeypatch.setattr(compile_cache, "use", lambda setting: calls.append(("use", setting)))
    real_sweep = engine.sweep
    monkeypatch.setattr(engine, "sweep", lambda *a, **k: calls.append(("sweep", None)) or real_sweep(*a, **k))
    monkeypatch.setattr("symjax.train.sweep", engine.sweep)
    driver.run(ToyTask([]), ToyOptions(seeds=(0,), out_dir=str(tmp_path), compile_cache=str(tmp_path / "xla")))
    assert calls == [("use", str(tmp_path / "xla")), ("sweep", None)]


def test_help_lists_every_flag_under_its_heading():
    """--help of a script lists each option of its task and the script's own flag once, under science, run or
    engine, each with its default, and a departure's flag with the study's value."""
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "experiments/task3.py", "--help"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    sections, blocks, heading, name = {}, {}, None, None
    for line in proc.stdout.splitlines():
        if re.match(r"(science|run|engine): ", line):
            heading = line.split(":")[0]
        elif match := re.match(r"  --(?:\[no\])?(\w+): ", line):
            name = match.group(1)
            sections.setdefault(heading, []).append(name)
            blocks[name] = line
        elif line.startswith("    ") and name is not None:
            blocks[name] += " " + line.strip()
    engine = {"lane_groups", "compile_cache", "compact_stopped", "max_group_lanes", "cpu_fusion_emitters",
              "eval_batch_size", "compile_ahead", "cpu_devices", "lane_placement"}
    run = {"out_dir", "resume", "overwrite", "checkpoint_every", "quiet", "verbose", "distributed",
           "stop_after_epochs", "report_only"}
    fields = {f.name for f in dataclasses.fields(t3.Options)}
    listed = sum(sections.values(), [])
    assert sorted(listed) == sorted(fields | {"model_size"})  # every flag, once
    assert set(sections["engine"]) == engine and set(sections["run"]) == run
    assert set(sections["science"]) == (fields - engine - run) | {"model_size"}
    defaults = t3.Options()
    for field in dataclasses.fields(defaults):
        value = getattr(defaults, field.name)
        text = ",".join(map(str, value)) if isinstance(value, tuple) and field.name != "seeds" else (
            str(len(value)) if field.name == "seeds" else str(value))
        assert f"(default: {text})" in blocks[field.name], (field.name, blocks[field.name])
    studied = [d for d in t3.DEPARTURES if d.study is not None]
    assert studied
    for d in studied:
        assert f"The study's value: {d.study} (--settings=study)." in blocks[d.flag], blocks[d.flag]
    assert all("The study's value" not in blocks[n] for n in listed if n not in {d.flag for d in studied})


RUN_SCRIPT = '''
import atexit, sys, threading, time
from symjax.tasks import driver

def main(argv):
    out = sys.argv[-1]
    def late():
        time.sleep(0.3)
        open(out + ".thread", "w").write("done")
    threading.Thread(target=late).start()  # non-daemon: the exit must wait for it
    atexit.register(lambda: open(out + ".atexit", "w").write("ran"))
    sys.stdout.write("unflushed output")
    {end}

driver.run_script(main)
raise AssertionError("run_script returned")
'''


def run_python_file(path, *args, timeout=120) -> subprocess.CompletedProcess:
    """python path *args with symjax importable, on the CPU."""
    env = dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, str(path), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("end, code, stderr", [("return None", 0, ""), ("sys.exit(3)", 3, ""),
                                               ("sys.exit('a message')", 1, "a message")])
def test_run_script_exits_with_mains_code_after_threads_and_exit_handlers(tmp_path, end, code, stderr):
    """A script ended by run_script keeps an orderly exit's effects: main's exit code, non-daemon threads
    finished, atexit handlers run, buffered output flushed."""
    script = tmp_path / "script.py"
    script.write_text(RUN_SCRIPT.replace("{end}", end))
    out = str(tmp_path / "marker")
    proc = run_python_file(script, "--", out)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "unflushed output"
    assert proc.stderr.strip() == stderr
    assert Path(out + ".thread").read_text() == "done"
    assert Path(out + ".atexit").read_text() == "ran"


def test_run_script_lets_an_exception_end_the_process_as_usual(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("from symjax.tasks import driver\n\ndef main(argv):\n    raise RuntimeError('boom')\n\n"
                      "driver.run_script(main)\n")
    proc = run_python_file(script)
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr


def test_run_script_stops_an_idle_executor_pool(tmp_path):
    """A thread pool left open (its workers wait for work, as a library's may) does not hang the exit."""
    script = tmp_path / "script.py"
    script.write_text("import concurrent.futures\nfrom symjax.tasks import driver\n\n"
                      "POOL = concurrent.futures.ThreadPoolExecutor(2)\n\n"
                      "def main(argv):\n    POOL.submit(print, 'from the pool').result()\n\n"
                      "driver.run_script(main)\n")
    proc = run_python_file(script, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "from the pool\n"


class TwoSweepToy(ToyTask):
    def plan_sweeps(self, opts):
        return [driver.SweepPlan(name, setting, "linear", ("linear",)) for name, setting in (("a", 3), ("b", 4))]


@pytest.mark.parametrize("ahead", [True, False])
def test_the_next_sweep_compiles_while_one_trains_unless_switched_off(tmp_path, monkeypatch, ahead):
    """compile_ahead: sweep b's programs compile, with the LaneFns b then trains with, as soon as sweep a has
    trained an epoch; the results do not depend on it."""
    from symjax.tasks import run as run_module
    from symjax.train import engine

    events, fns_of, compiled = [], {}, []
    real_ahead, real_compile, real_sweep = run_module.compile_ahead, engine.compile_sweep, engine.sweep

    def compile_ahead(task, opts, plan, data, state):
        events.append(("ahead", plan.name))
        return real_ahead(task, opts, plan, data, state)

    def compile_sweep(fns, *args):  # on the compile-ahead thread
        compiled.append(id(fns))
        return real_compile(fns, *args)

    def sweep(fns, pool_x, pool_y, lanes, config, *, epoch_callback, **kwargs):
        name = lanes[0].meta["sweep"]
        fns_of[name] = id(fns)

        def on_epoch(epoch, summary):
            events.append(("epoch", name, epoch))
            epoch_callback(epoch, summary)
        return real_sweep(fns, pool_x, pool_y, lanes, config, epoch_callback=on_epoch, **kwargs)

    monkeypatch.setattr(run_module, "compile_ahead", compile_ahead)
    monkeypatch.setattr("symjax.train.compile_sweep", compile_sweep)
    monkeypatch.setattr("symjax.train.sweep", sweep)
    rows = driver.run(TwoSweepToy([]), ToyOptions(seeds=(0,), out_dir=str(tmp_path / "run"), compile_ahead=ahead))
    if ahead:
        assert events == [("epoch", "a", 1), ("ahead", "b"), ("epoch", "a", 2), ("epoch", "b", 1), ("epoch", "b", 2)]
        assert compiled == [fns_of["b"]]
    else:
        assert events == [("epoch", "a", 1), ("epoch", "a", 2), ("epoch", "b", 1), ("epoch", "b", 2)]
        assert compiled == []
    monkeypatch.undo()
    alone = driver.run(TwoSweepToy([]), ToyOptions(seeds=(0,), out_dir=str(tmp_path / "alone"), compile_ahead=False))
    assert [r["test_loss"] for r in rows] == [r["test_loss"] for r in alone]
