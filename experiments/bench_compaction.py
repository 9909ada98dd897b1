"""Lanes dropped from their program once they stop (Execution.compact_stopped), side by side.

Work: Task 1's sweeps at --n_blocks (default 20, the widest layers, where the recorded full grid spends
most of its time), Table-2 train sizes 40 ... 8000 with their batch sizes, --seeds seeds, the full grid's
models (vanilla, vanilla_aug in one sweep, shared, shared_aug in the other), the task's budget (--epochs
epochs, early stopping with --patience, as `experiments/task1.py`), lane groups as the task script's
default ('shape'). Each sweep runs twice,
compaction off then on, each cold (JAX's in-memory caches cleared, persistent compilation cache off),
so each pays its own compilations, the compacted programs included.

Reported per architecture: wall seconds of both, the useful share of the example-epochs computed
without compaction (examples x epochs of lanes still training over examples x epochs of the group),
the programs each compiled, and how far the results agree (XLA:CPU may round a program over fewer
lanes differently, and early stopping can turn that into another stopping epoch).

    python experiments/bench_compaction.py --out=docs/benchmarks.md
    python experiments/bench_compaction.py --n_blocks=2 --epochs=30 --seeds=1   # a minute
"""

import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench_common import publish  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import bench_sharing  # noqa: E402, F401  (defines --out and bench_sharing's flags)
from symjax.data.set_function import TABLE2  # noqa: E402
from symjax.tasks import set_function_task as task1  # noqa: E402
from symjax.tasks.common import machine_description  # noqa: E402
from symjax.tasks.progress import configure_logging  # noqa: E402
from symjax.train import Execution, TrainConfig, sweep  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("n_blocks", 20, "Task 1 n_blocks of the sweeps.")
flags.DEFINE_integer("seeds", 3, "Seeds per train size.")
flags.DEFINE_integer("epochs", 250, "Maximum epochs (the study's 250).")
flags.DEFINE_integer("patience", 15, "Early-stopping patience (the study's 15).")
flags.DEFINE_string("note", "", "A line about the conditions (e.g. other jobs paused).")

SECTION = "## Stopped lanes dropped from their program (experiments/bench_compaction.py)"


def task1_sweeps(n_blocks: int, seeds: int):
    """Task 1's two architectures (each with its augmented lanes) at n_blocks, as its driver builds them."""
    return task1.engine_sweeps(task1.Options(n_blocks=(n_blocks,), train_sizes=tuple(TABLE2),
                                             seeds=tuple(range(seeds)),
                                             models=("vanilla", "vanilla_aug", "shared", "shared_aug")))


def compiles_during(run):
    """(run(), number of XLA compilations of epoch programs during it)."""
    count = collections.Counter()

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            count[kwargs.get("fun_name")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        result = run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return result, count["jit(_train_epoch)"]


def useful_share(lanes, rows) -> float:
    """Examples x epochs of lanes still training over examples x epochs computed by one program per shape
    group run until its last lane stops (Lane shapes: batch size and steps)."""
    groups = collections.defaultdict(list)
    for lane, row in zip(lanes, rows):
        steps = -(-len(lane.train_idx) // lane.batch_size)
        groups[(lane.batch_size, steps)].append((len(lane.train_idx), row["epochs"]))
    useful = sum(n * e for members in groups.values() for n, e in members)
    computed = sum(max(e for _, e in members) * sum(n for n, _ in members) for members in groups.values())
    return useful / computed


def time_sweep(fns, pool_x, pool_y, lanes, compact: bool):
    config = TrainConfig(loss="mse", learning_rate=task1.Options().lr, max_epochs=FLAGS.epochs,
                         patience=FLAGS.patience, early_stopping=True, quiet=True,
                         execution=Execution(lane_groups="shape", compact_stopped=compact))
    jax.clear_caches()
    start = time.perf_counter()
    result, compiles = compiles_during(lambda: sweep(fns, pool_x, pool_y, lanes, config))
    return time.perf_counter() - start, result, compiles


def measure() -> list[dict]:
    out = []
    for arch, fns, pool_x, pool_y, lanes in task1_sweeps(FLAGS.n_blocks, FLAGS.seeds):
        off_s, off, off_compiles = time_sweep(fns, pool_x, pool_y, lanes, compact=False)
        on_s, on, on_compiles = time_sweep(fns, pool_x, pool_y, lanes, compact=True)
        strip = lambda r: {k: v for k, v in r.items() if k != "wall_s"}
        differ = [i for i, (a, b) in enumerate(zip(on.rows, off.rows)) if strip(a) != strip(b)]
        loss_on, loss_off = (np.array([r["test_loss"] for r in res.rows]) for res in (on, off))
        row = {"architecture": arch, "lanes": len(lanes), "off_s": off_s, "on_s": on_s,
               "off_compiles": off_compiles, "on_compiles": on_compiles, "rows_differ": len(differ),
               "stop_epoch_differs": sum(a["epochs"] != b["epochs"] for a, b in zip(on.rows, off.rows)),
               "max_rel_test_loss_diff": float(np.max(np.abs(loss_on - loss_off) / np.abs(loss_off))),
               "useful": useful_share(lanes, off.rows), "epochs": [r["epochs"] for r in off.rows]}
        print(row, flush=True)
        out.append(row)
    return out


def markdown(rows: list[dict]) -> str:
    lines = [SECTION, "",
             f"Machine: {machine_description()}. Date: {time.strftime('%Y-%m-%d')}."
             + (f" {FLAGS.note}." if FLAGS.note else ""), "",
             f"Task 1, n_blocks={FLAGS.n_blocks}, Table-2 train sizes x {FLAGS.seeds} seeds, at most {FLAGS.epochs} "
             f"epochs, early stopping (patience {FLAGS.patience}), one program per shape; each sweep cold, "
             "compaction off then on.", "",
             "| architecture | lanes | useful share of the computed example-epochs (off) | off: wall s | "
             "on: wall s | speed-up | epoch programs compiled (off / on) | rows not bitwise equal | "
             "of them, stopping epoch differs | max relative test-loss difference |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['architecture']} | {r['lanes']} | {100 * r['useful']:.0f} % | {r['off_s']:.1f} | "
                     f"{r['on_s']:.1f} | {r['off_s'] / r['on_s']:.2f}x | {r['off_compiles']} / {r['on_compiles']} | "
                     f"{r['rows_differ']} | {r['stop_epoch_differs']} | {r['max_rel_test_loss_diff']:.1e} |")
    off, on = sum(r["off_s"] for r in rows), sum(r["on_s"] for r in rows)
    lines += ["", f"Both architectures: {off:.1f} s off, {on:.1f} s on ({off / on:.2f}x)."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    configure_logging(FLAGS.verbose)
    text = markdown(measure())
    publish(text, FLAGS.out)


if __name__ == "__main__":
    app.run(main)
