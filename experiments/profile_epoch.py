"""Where a steady training epoch of the engine spends its time, by kind of XLA operation.

Trains one Task 1 sweep (--n_blocks, --models, --seeds seeds, --train_sizes with Table 2's batches, lane
groups --lane_groups planned for --plan_epochs epochs, no early stopping), traces epochs
--epochs - --traced + 1 .. --epochs with `jax.profiler`, and sums the durations of the XLA
operations in the trace by kind: "matmul" (`dot` and XNNPACK `ynn_fusion` thunks), else the
operation's name without its number (`multiply_add_fusion`, `broadcast_select_fusion`, ...).
Control flow (`while`, `call`, `conditional`) is left out: its events enclose other operations.
Durations are summed over threads, so on a multi-core host they can exceed the wall time.

    python experiments/profile_epoch.py --n_blocks=20 --models=vanilla --lane_groups=shape
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
from absl import app, flags  # noqa: E402

from experiments.bench_common import op_seconds  # noqa: E402
from symjax.data.set_function import TABLE2  # noqa: E402
from symjax.tasks import set_function_task as task1  # noqa: E402
from symjax.tasks.progress import configure_logging, define_verbose_flag  # noqa: E402
from symjax.train import Execution, TrainConfig, sweep  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("n_blocks", 20, "Task 1 n_blocks of the sweep.")
flags.DEFINE_list("models", ["vanilla"], "Task 1 model variants of the sweep (one architecture).")
flags.DEFINE_integer("seeds", 3, "Seeds per train size.")
flags.DEFINE_list("train_sizes", [str(size) for size in TABLE2], "Train sizes (Table 2's by default).")
flags.DEFINE_enum("lane_groups", "shape", ["shape", "single", "auto"], "Execution.lane_groups.")
flags.DEFINE_integer("plan_epochs", 250, "Epochs the lane groups are planned for (the Task 1 grid's).")
flags.DEFINE_integer("epochs", 5, "Epochs trained; the sweep is stopped after them.")
define_verbose_flag()
flags.DEFINE_integer("traced", 2, "Last epochs traced (the first epoch, which compiles, is never traced).")

class _EnoughEpochs(Exception):
    """Raised by the epoch callback to end the sweep after --epochs."""


def main(argv):
    del argv
    configure_logging(FLAGS.verbose)
    if not 1 <= FLAGS.traced < FLAGS.epochs:
        raise app.UsageError(f"--traced: expected 1 <= traced < epochs = {FLAGS.epochs}, got {FLAGS.traced}")
    options = task1.Options(n_blocks=(FLAGS.n_blocks,), train_sizes=tuple(int(size) for size in FLAGS.train_sizes),
                            seeds=tuple(range(FLAGS.seeds)), models=tuple(FLAGS.models))
    sweeps = task1.engine_sweeps(options)
    if len(sweeps) != 1:
        raise app.UsageError(f"--models: expected variants of one architecture, got {FLAGS.models}")
    _, fns, pool_x, pool_y, lanes = sweeps[0]
    config = TrainConfig(loss="mse", max_epochs=FLAGS.plan_epochs, early_stopping=False, quiet=True,
                         execution=Execution(lane_groups=FLAGS.lane_groups))
    first_traced = FLAGS.epochs - FLAGS.traced
    with tempfile.TemporaryDirectory() as trace_dir:
        stamps = {}

        def callback(epoch, summary):
            stamps[epoch] = time.perf_counter()
            if epoch == first_traced:
                jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
            if epoch == FLAGS.epochs:
                jax.profiler.stop_trace()
                raise _EnoughEpochs

        try:
            sweep(fns, pool_x, pool_y, lanes, config, epoch_callback=callback)
        except _EnoughEpochs:
            pass
        seconds = op_seconds(trace_dir)
    epoch_s = (stamps[FLAGS.epochs] - stamps[first_traced]) / FLAGS.traced
    total = sum(seconds.values())
    print(f"Task 1, n_blocks={FLAGS.n_blocks}, models {','.join(FLAGS.models)}, {len(lanes)} lanes, "
          f"lane_groups={FLAGS.lane_groups!r} planned for {FLAGS.plan_epochs} epochs; {FLAGS.traced} traced epochs, "
          f"{epoch_s:.3f} s per epoch (wall, profiler on)\n")
    print("| operation kind | ms per epoch | share of operation time |\n|---|---:|---:|")
    for kind, s in seconds.most_common():
        if s / total >= 0.005:
            print(f"| {kind} | {1e3 * s / FLAGS.traced:.1f} | {100 * s / total:.1f} % |")
    print(f"| all operations | {1e3 * total / FLAGS.traced:.1f} | 100 % |")


if __name__ == "__main__":
    app.run(main)
