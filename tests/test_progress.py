"""RunProgress lines and configure_logging, driven by a fake clock and a stream that records its flushes.

Expected times are worked out by hand from the fake clock's ticks (each test says how).
"""

import io
import logging
import os
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from symjax.tasks.progress import RunProgress, configure_logging, format_duration

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class RecordingStream(io.StringIO):
    """StringIO that remembers whether everything written so far has been flushed."""

    def __init__(self):
        super().__init__()
        self.unflushed = 0
        self.flushes = 0

    def write(self, text):
        self.unflushed += len(text)
        return super().write(text)

    def flush(self):
        self.flushes += 1
        self.unflushed = 0
        super().flush()

    def lines(self):
        return self.getvalue().splitlines()


def summary(active, best_val, diverged=None):
    active = np.asarray(active, bool)
    diverged = np.zeros(active.shape, bool) if diverged is None else np.asarray(diverged, bool)
    return {"val_loss": np.asarray(best_val, np.float32), "best_val": np.asarray(best_val, np.float32),
            "active": active, "diverged": diverged, "devices": 1}


def progress_lines(stream):
    return [line for line in stream.lines() if ": epoch " in line]


def run_epochs(progress, clock, epochs, seconds, active=(True, True, True, True), best=(0.5, 0.25, 0.125, 1.0)):
    for epoch, dt in zip(epochs, seconds):
        clock.t += dt
        progress.on_epoch(epoch, summary(active, best))


def test_lines_of_two_sweeps_off_a_terminal():
    clock, stream = FakeClock(), RecordingStream()
    progress = RunProgress("task9", [("A", 30), ("B", 20)], stream=stream, clock=clock, every_epochs=10,
                           interval_s=1000.0, is_tty=False)
    progress.sweep_started("A", 4)
    assert stream.lines() == ["[task9] sweep 1/2 A: started, 4 lanes, at most 30 epochs"]
    assert stream.unflushed == 0
    # Epoch 1 takes 5 s (compilation), epochs 2..30 take 1 s each; one lane has stopped.
    run_epochs(progress, clock, range(1, 31), [5.0] + [1.0] * 29, active=(True, False, True, True))
    lines = progress_lines(stream)
    assert [re.search(r"epoch (\d+)/30", l).group(1) for l in lines] == ["10", "20", "30"]
    # At epoch 10: t = 5 + 9 = 14 s; mean epoch = 1 s (epoch 1 left out); left = (30 - 10) + 20 epochs = 40 s.
    assert lines[0] == ("[task9] sweep 1/2 A: epoch 10/30, 3/4 lanes active, best val 0.125, "
                        "elapsed 0:00:14, left <= 0:00:40")
    assert stream.unflushed == 0
    progress.sweep_finished("A", 4, {"init": 0.5, "compile": 4.0, "first_epoch": 1.0, "train": 30.0, "evaluate": 1.0,
                                     "total": 36})
    assert stream.lines()[-1] == ("[task9] sweep 1/2 A: finished, 4 lanes, 30 epochs, compilation 0:00:04, "
                                  "first epoch 0:00:01, training 0:00:30, evaluation 0:00:01, total 0:00:36; "
                                  "elapsed 0:00:34")

    clock.t = 40.0
    progress.sweep_started("B", 2)
    # B: first epoch 3 s, then 2 s each. At epoch 10: t = 43 + 9 * 2 = 61 s; steady epochs so far:
    # 29 of 1 s (A) and 9 of 2 s (B) -> mean 47 / 38 s; left = (20 - 10) * 47 / 38 = 12.4 s.
    run_epochs(progress, clock, range(1, 11), [3.0] + [2.0] * 9, active=(True, True), best=(np.nan, 2.5e-4))
    assert progress_lines(stream)[-1] == ("[task9] sweep 2/2 B: epoch 10/20, 2/2 lanes active, best val 0.00025, "
                                          "elapsed 0:01:01, left <= 0:00:12")
    assert stream.unflushed == 0 and stream.flushes >= 6
    progress.close()


def test_interval_trigger_and_early_end():
    clock, stream = FakeClock(), RecordingStream()
    progress = RunProgress("t", [("A", 100)], stream=stream, clock=clock, every_epochs=50, interval_s=30.0,
                           is_tty=False)
    progress.sweep_started("A", 1)
    # 7 s per epoch: a line once 30 s have passed since the last one -> epochs 5 (35 s) and 10 (70 s).
    run_epochs(progress, clock, range(1, 12), [7.0] * 11, active=(True,), best=(1.0,))
    assert [re.search(r"epoch (\d+)/", l).group(1) for l in progress_lines(stream)] == ["5", "10"]
    # Every lane stops at epoch 12: that is the sweep's last epoch, so it gets a line.
    clock.t += 7.0
    progress.on_epoch(12, summary((False,), (1.0,), diverged=(True,)))
    assert progress_lines(stream)[-1].startswith("[t] sweep 1/1 A: epoch 12/100, 0/1 lanes active (1 diverged), ")


def test_resumed_sweep_counts_from_its_first_epoch():
    clock, stream = FakeClock(), RecordingStream()
    progress = RunProgress("t", [("A", 40)], stream=stream, clock=clock, every_epochs=10, is_tty=False)
    progress.sweep_started("A", 1)
    # Resumed at epoch 20: the first callback is epoch 21 (12 s: restore + compilation), then 2 s each.
    run_epochs(progress, clock, range(21, 31), [12.0] + [2.0] * 9, active=(True,), best=(1.0,))
    lines = progress_lines(stream)
    assert len(lines) == 1
    # left = (40 - 30) epochs x 2 s = 20 s
    assert "epoch 30/40" in lines[0] and lines[0].endswith("elapsed 0:00:30, left <= 0:00:20")


def test_first_epochs_are_the_estimate_until_another_is_seen_and_skipped_sweeps_are_not_counted():
    clock, stream = FakeClock(), RecordingStream()
    progress = RunProgress("t", [("A", 10), ("B", 50), ("C", 10)], stream=stream, clock=clock, every_epochs=1,
                           is_tty=False)
    progress.sweep_started("A", 1)
    progress.sweep_skipped("B", "finished earlier; results reused")
    assert stream.lines()[-1] == "[t] sweep 2/3 B: skipped (finished earlier; results reused)"
    assert progress.seconds_left() is None
    run_epochs(progress, clock, [1], [6.0], active=(True,), best=(1.0,))
    # Only epoch 1 seen: 6 s per epoch x ((10 - 1) + 10) epochs = 114 s.
    assert progress_lines(stream)[-1].endswith("left <= 0:01:54")
    run_epochs(progress, clock, [2], [1.0], active=(True,), best=(1.0,))
    # Epoch 2 took 1 s and replaces epoch 1 in the mean: (8 + 10) x 1 s.
    assert progress_lines(stream)[-1].endswith("left <= 0:00:18")


def test_quiet_prints_nothing():
    clock, stream = FakeClock(), RecordingStream()
    progress = RunProgress("t", [("A", 5)], quiet=True, stream=stream, clock=clock, every_epochs=1, is_tty=False)
    progress.sweep_started("A", 1)
    run_epochs(progress, clock, range(1, 6), [1.0] * 5, active=(True,), best=(1.0,))
    progress.sweep_finished("A", 1, {"first_epoch": 1.0, "train": 5.0, "evaluate": 0.1, "total": 5.2})
    progress.message("hello")
    progress.close()
    assert stream.getvalue() == ""


def test_message_is_one_flushed_line():
    stream = RecordingStream()
    RunProgress("task2", [], stream=stream, is_tty=False).message("wrote results.csv")
    assert stream.getvalue() == "[task2] wrote results.csv\n" and stream.unflushed == 0


def test_terminal_draws_a_tqdm_bar_and_no_interval_lines():
    clock, stream = FakeClock(), RecordingStream()
    progress = RunProgress("t", [("A", 20)], stream=stream, clock=clock, every_epochs=1, interval_s=1e-9,
                           is_tty=True)
    progress.sweep_started("A", 2)
    run_epochs(progress, clock, range(1, 21), [1.0] * 20, active=(True, True), best=(1.0, 2.0))
    progress.message("note")
    progress.sweep_finished("A", 2, {"first_epoch": 1.0, "train": 20.0, "evaluate": 0.1, "total": 21.0})
    text = stream.getvalue()
    assert "\r" in text and "%|" in text  # tqdm redraws its bar in place
    assert "20/20" in text and "2/2 lanes active" in text
    newline_lines = [l.split("\r")[-1] for l in text.split("\n")]
    assert not [l for l in text.replace("\r", "\n").split("\n") if l.startswith("[t] sweep 1/1 A: epoch")]
    assert "[t] sweep 1/1 A: started, 2 lanes, at most 20 epochs" in newline_lines
    assert "[t] note" in newline_lines
    assert any(l.startswith("[t] sweep 1/1 A: finished, 2 lanes, 20 epochs") for l in newline_lines)
    progress.close()


def test_format_duration():
    assert format_duration(3725.0) == "1:02:05"
    assert format_duration(59.6) == "0:01:00"
    assert format_duration(100 * 3600 + 1) == "100:00:01"
    assert format_duration(None) == "?" and format_duration(float("nan")) == "?"


def test_bad_use_names_what_was_expected():
    with pytest.raises(ValueError, match=r"max_epochs: int >= 1.*got \('A', 0\)"):
        RunProgress("t", [("A", 0)])
    with pytest.raises(ValueError, match="every_epochs must be an integer >= 1; got 0"):
        RunProgress("t", [("A", 1)], every_epochs=0)
    progress = RunProgress("t", [("A", 1), ("A", 2)], stream=io.StringIO(), is_tty=False)
    with pytest.raises(RuntimeError, match="no sweep is running"):
        progress.on_epoch(1, summary((True,), (1.0,)))
    with pytest.raises(ValueError, match=r"no pending sweep 'B'; planned sweeps \['A', 'A'\]"):
        progress.sweep_started("B", 1)
    progress.sweep_started("A", 1)
    with pytest.raises(ValueError, match=r"missing \['active'\]"):
        progress.on_epoch(1, {"best_val": np.ones(1)})
    with pytest.raises(RuntimeError, match="running sweep is 'A'"):
        progress.sweep_finished("B", 1, {})
    progress.sweep_finished("A", 1, {})
    progress.sweep_started("A", 1)  # the second sweep of the same label
    assert progress.epochs_left() == 2
    with pytest.raises(TypeError, match="verbose must be a bool; got str 'no'"):
        configure_logging("no")


@pytest.fixture
def restore_logging():
    """Puts the logger levels, absl verbosity and warning format back after a configure_logging test."""
    from absl import logging as absl_logging

    from symjax.tasks import progress

    levels = {name: logging.getLogger(name).level for name in progress.LIBRARY_LOGGERS}
    verbosity, formatwarning = absl_logging.get_verbosity(), warnings.formatwarning
    yield
    absl_logging.set_verbosity(verbosity)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    warnings.formatwarning = formatwarning


def _save_checkpoints(directory):
    from symjax.train.checkpoint import CheckpointStore

    store = CheckpointStore(str(directory), {"test": 1}, keep=1)
    store.save(1, {"w": np.arange(3.0)})
    store.save(2, {"w": np.arange(3.0)})
    return store


def test_configure_logging_hides_and_restores_orbax_info(tmp_path, caplog, restore_logging):
    caplog.set_level(logging.INFO)  # the root level absl.app.run sets
    configure_logging(False)
    configure_logging(False)  # idempotent
    _save_checkpoints(tmp_path / "quiet")
    assert not [r for r in caplog.records if r.levelno < logging.WARNING], caplog.records[:3]
    configure_logging(True)
    _save_checkpoints(tmp_path / "verbose")
    info = [r for r in caplog.records if r.levelno == logging.INFO and r.name == "absl"]
    assert any("checkpoint" in r.getMessage().lower() for r in info), [r.getMessage() for r in info[:5]]


def test_script_log_file_has_no_library_info_unless_verbose(tmp_path):
    """An absl app (as every experiment script is) with its output going to a file."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from absl import app
        import numpy as np
        from symjax.tasks.progress import configure_logging
        from symjax.train.checkpoint import CheckpointStore

        def main(argv):
            configure_logging(False)
            import jax
            jax.devices()
            store = CheckpointStore({str(tmp_path / 'ckpt')!r}, {{"test": 1}}, keep=2)
            store.save(1, {{"w": np.arange(3.0)}})
            store.clear()
            print("--- verbose ---", flush=True)
            configure_logging(True)
            store.save(2, {{"w": np.arange(3.0)}})

        app.run(main)
        """))
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        subprocess.run([sys.executable, str(script)], stdout=f, stderr=subprocess.STDOUT, check=True, timeout=300)
    quiet, verbose = log.read_text().split("--- verbose ---\n")
    assert quiet.splitlines() == [f"UserWarning: fresh run (resume=False): removing 1 old checkpoint(s) ['step_1'] "
                                  f"from {tmp_path / 'ckpt'}"], quiet
    assert re.search(r"^I\d{4} .*checkpoint", verbose, re.MULTILINE), verbose[:500]  # absl's INFO format


def test_a_fresh_run_without_old_checkpoints_does_not_load_orbax(tmp_path):
    """Issue 26: orbax (about 1 s to import) loads only when there is a step to list, delete or save."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "old" / "step_3").mkdir(parents=True)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from symjax.train.checkpoint import CheckpointStore
        for name in ("absent", "empty"):
            store = CheckpointStore({str(tmp_path)!r} + "/" + name, {{"test": 1}}, keep=2)
            assert store.steps() == [] and store.restore_latest({{}}) is None
            store.clear()
        print("orbax loaded:", "orbax.checkpoint" in sys.modules)
        CheckpointStore({str(tmp_path / 'old')!r}, {{"test": 1}}, keep=2).steps()
        print("orbax loaded:", "orbax.checkpoint" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300).stdout
    assert out.splitlines() == ["orbax loaded: False", "orbax loaded: True"], out
