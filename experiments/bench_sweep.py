"""Benchmark of the sweep engine on the sweep a user starts with, against a plain sequential loop.

Work (issue 15): Task 1 at one n_blocks (default 5), Table-2 train sizes 40 ... 8000 with their
batch sizes, --seeds seeds, models {vanilla, shared} (no augmentation), Adam 1e-3 on the MSE,
--epochs epochs, no early stopping: for n_blocks=5 and 3 seeds, 36 lanes and 804 lane-steps per
epoch (16,080 steps at 20 epochs). Every mode does exactly these steps, validates every epoch and
evaluates the test set at the end:

* engine: one `sweep` call per architecture (Execution.lane_groups = --lane_groups), cold (all
  in-memory caches cleared, an empty persistent compilation cache); then the same again warm
  (the persistent cache the cold run filled);
* engine, one lane at a time: one `sweep([lane])` call per lane, cold at the start of the mode
  (programs are reused across lanes of equal shapes, as a user's loop over lanes would);
* torch: a plain sequential PyTorch loop (when `import torch` works; 2 threads), each lane
  trained alone in the thesis style (DataLoader-like shuffled batches, torch.optim.Adam(1e-3)).

torch, engine cold and engine warm run in --rounds interleaved rounds (the fastest of each is
reported, every round's wall time listed), so a change of the machine's load hits all of them;
process CPU seconds are reported beside wall time.

Per phase (summed over both architectures; jax.monitoring events): trace (Python -> jaxpr),
lower (jaxpr -> StableHLO), compile (XLA), and the engine's own timings (init, first epoch,
steady epochs, evaluation). Then the steady-state FLOP/s of the engine for --flops_n_blocks
(default 20, the widest layers), against the machine's large-matmul FLOP/s, with one program per
lane shape (as the task scripts run) and with the engine's default shape buckets.

    python experiments/bench_sweep.py --rounds=2 --out=docs/benchmarks.md \
        --json_out=docs/results/bench_sweep/<date>.json
    python experiments/bench_sweep.py --smoke --json_out=/tmp/bench.json   # ~1 minute: 2 sizes, 1 seed

With --out, writes the section "## Sweep engine (experiments/bench_sweep.py)" of that file (other
sections kept); with --json_out, every number as JSON.
"""

import collections
import datetime
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from symjax.data.set_function import TABLE2  # noqa: E402
from symjax.io import atomic_write_json  # noqa: E402
from experiments.bench_common import matmul_flops, publish  # noqa: E402
from experiments.torch_loop_task1 import torch_model  # noqa: E402
from symjax.tasks import common  # noqa: E402
from symjax.tasks import set_function_task as task1  # noqa: E402
from symjax.tasks.progress import configure_logging, define_verbose_flag  # noqa: E402
from symjax.train import Execution, TrainConfig, sweep  # noqa: E402
from symjax.train.execution import example_flops  # noqa: E402
from symjax.train.lanes import build_lane_arrays, group_lanes  # noqa: E402

try:
    from symjax.train import compile_cache  # noqa: E402
except ImportError:  # an older engine (to time a checkout from before the cache): set JAX's cache directly
    compile_cache = None

FLAGS = flags.FLAGS
define_verbose_flag()
flags.DEFINE_integer("n_blocks", 5, "Task 1 n_blocks of the timed sweep.")
flags.DEFINE_integer("seeds", 3, "Seeds per train size.")
flags.DEFINE_integer("epochs", 20, "Epochs per lane (fixed, no early stopping).")
flags.DEFINE_string("lane_groups", None, "Execution.lane_groups of the engine run (None: the default).")
flags.DEFINE_integer("rounds", 1, "Rounds of (torch, engine cold, engine warm), interleaved; the fastest of each is kept.")
flags.DEFINE_bool("one_lane", True, "Also time the engine one lane at a time.")
flags.DEFINE_bool("serial_compile", True, "Also time the engine cold with one program compiled at a time "
                  "(Execution.compile_workers=1), beside the default (one per core).")
flags.DEFINE_bool("torch", True, "Also time a sequential PyTorch loop (skipped when torch does not import).")
flags.DEFINE_integer("torch_threads", 2, "torch.set_num_threads for the PyTorch loop.")
flags.DEFINE_integer("flops_n_blocks", 20, "n_blocks of the steady-state FLOP/s measurement (0: skip).")
flags.DEFINE_integer("flops_epochs", 4, "Epochs of the FLOP/s measurement (the first is not counted).")
flags.DEFINE_integer("flops_plan_epochs", 250, "Epochs the FLOP/s measurement's lane groups are planned for "
                     "(the Task 1 grid's max_epochs); it stops after --flops_epochs.")
flags.DEFINE_bool("smoke", False, "Seconds-long run: train sizes 40, 80, 1 seed, 2 epochs, FLOP/s at n_blocks 2.")
flags.DEFINE_string("out", None, "Markdown file whose sweep-engine section is written/replaced.")
flags.DEFINE_string("json_out", None, "Also write every number to this JSON file.")

SECTION = "## Sweep engine (experiments/bench_sweep.py)"
LEARNING_RATE = 1e-3
# jax.monitoring duration events of the compilation pipeline -> phase names.
PHASE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
_phase_seconds = collections.Counter()


def _on_duration(event, seconds, **kwargs):
    if event in PHASE_EVENTS:
        _phase_seconds[PHASE_EVENTS[event]] += seconds


jax.monitoring.register_event_duration_secs_listener(_on_duration)


class Phases:
    """Context manager: seconds of trace / lower / compile spent inside the block (`.seconds`)."""

    def __enter__(self):
        self._start = collections.Counter(_phase_seconds)
        return self

    def __exit__(self, *exc):
        self.seconds = {name: _phase_seconds[name] - self._start[name] for name in PHASE_EVENTS.values()}


def train_sizes():
    return (40, 80) if FLAGS.smoke else tuple(TABLE2)


def task1_sweeps(n_blocks, seeds):
    """[(architecture, LaneFns, pool_x, pool_y, lanes)]: Task 1's sweeps of models vanilla and shared, as
    its driver builds them (the augment function is passed, as the task does, but no lane augments)."""
    return task1.engine_sweeps(task1.Options(n_blocks=(n_blocks,), train_sizes=train_sizes(), seeds=tuple(seeds),
                                             models=("vanilla", "shared")))


def engine_config(epochs, **execution):
    """The engine's TrainConfig of the benchmark; ``execution``: Execution fields over --lane_groups."""
    if FLAGS.lane_groups:
        execution = {"lane_groups": FLAGS.lane_groups, **execution}
    return TrainConfig(loss="mse", learning_rate=LEARNING_RATE, max_epochs=epochs, early_stopping=False, quiet=True,
                       execution=Execution(**execution))


def run_engine(fns, pool_x, pool_y, lanes, config):
    """One sweep as the Task 1 script calls it. Returns (SweepResult, epoch end times (perf_counter))."""
    stamps = []
    result = sweep(fns, pool_x, pool_y, lanes, config,
                   epoch_callback=lambda epoch, summary: stamps.append(time.perf_counter()))
    return result, stamps


def time_engine(sweeps, epochs, n_blocks, one_lane=False, compile_workers=0):
    """Wall seconds, phases and test losses of the engine over all sweeps (lanes one by one if one_lane;
    Execution.compile_workers as given)."""
    wall, steady, losses, engine = 0.0, 0.0, [], collections.Counter()
    cpu_start = time.process_time()
    with Phases() as phases:
        for _, fns, pool_x, pool_y, lanes in sweeps:
            for part in ([[lane] for lane in lanes] if one_lane else [lanes]):
                start = time.perf_counter()
                result, stamps = run_engine(fns, pool_x, pool_y, part,
                                            engine_config(epochs, compile_workers=compile_workers))
                wall += time.perf_counter() - start
                steady += stamps[-1] - stamps[0]
                engine.update(result.timings)
                losses += [r["test_loss"] for r in result.rows]
    return {"wall_s": wall, "cpu_s": time.process_time() - cpu_start, "epochs_2_on_s": steady, **{f"{k}_s": v for k, v in phases.seconds.items()},
            **{f"sweep_{k}_s": v for k, v in engine.items()}, "test_loss": losses}


def cold_caches(cache_dir):
    """Clears JAX's in-memory caches and points the persistent compilation cache at the empty cache_dir."""
    jax.clear_caches()
    if compile_cache is not None:
        compile_cache.point_to(cache_dir)
        return
    from jax.experimental.compilation_cache import compilation_cache  # noqa: PLC0415

    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    compilation_cache.set_cache_dir(cache_dir)
    compilation_cache.reset_cache()


def time_torch(torch, sweeps, epochs, n_blocks):
    """A plain sequential loop over lanes: shuffled batches, Adam, MSE, validation every epoch, test at the end."""
    torch.set_num_threads(FLAGS.torch_threads)
    losses = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for arch, _, pool_x, pool_y, lanes in sweeps:
        x_all, y_all = torch.from_numpy(np.asarray(pool_x)), torch.from_numpy(np.asarray(pool_y))
        for lane in lanes:
            torch.manual_seed(lane.seed)
            model = torch_model(torch, arch, n_blocks)
            opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
            x, y = x_all[lane.train_idx], y_all[lane.train_idx]
            xv, yv = x_all[lane.val_idx], y_all[lane.val_idx]
            for _ in range(epochs):
                for batch in torch.randperm(len(x)).split(lane.batch_size):
                    opt.zero_grad()
                    loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
                    loss.backward()
                    opt.step()
                with torch.no_grad():
                    torch.nn.functional.mse_loss(model(xv), yv).item()
            with torch.no_grad():
                losses.append(torch.nn.functional.mse_loss(model(x_all[lane.test_idx]), y_all[lane.test_idx]).item())
    return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu_start, "test_loss": losses}


class _EnoughEpochs(Exception):
    """Raised by the epoch callback to end a timed sweep after the epochs it times."""


def steady_flops(n_blocks, seeds, epochs, plan_epochs):
    """Useful training FLOP/s of the engine's steady-state epochs (epochs 2..epochs), per architecture and
    lane grouping: 'shape' (what the task scripts run: one program per lane shape, no padding) and 'auto'
    (the engine's default), both planned for a sweep of plan_epochs epochs (the Task 1 grid's 250) and
    stopped after `epochs`."""
    out = {}
    for arch, fns, pool_x, pool_y, lanes in task1_sweeps(n_blocks, seeds):
        flop = example_flops(fns.init, fns.apply, "mse", pool_x, pool_y)  # as the engine's 'auto' plan prices slots
        host = build_lane_arrays(lanes, LEARNING_RATE)
        examples = int(np.sum(host.n_train))
        out[arch] = {"flop_per_example": flop, "examples_per_epoch": examples}
        for groups in ("shape", "auto"):
            plan = group_lanes(host, groups, plan_epochs, flop)
            slots = sum(len(g) * int(np.max(host.batch_size[g])) * int(np.max(host.n_steps[g])) for g in plan)
            stamps = []

            def stop_after(epoch, summary):
                stamps.append(time.perf_counter())
                if epoch == epochs:
                    raise _EnoughEpochs

            try:
                sweep(fns, pool_x, pool_y, lanes, engine_config(plan_epochs, lane_groups=groups),
                      epoch_callback=stop_after)
            except _EnoughEpochs:
                pass
            seconds = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
            out[arch][groups] = {"epoch_s": seconds, "programs": len(plan), "slots_per_epoch": slots,
                                 "flop_per_s": flop * examples / seconds}
    return out


def max_relative_difference(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))


def save_partial(result):
    """Writes what is measured so far to --json_out (a run stopped by a time cap keeps its finished modes)."""
    if FLAGS.json_out:
        atomic_write_json(FLAGS.json_out, dict(result, partial=True), indent=1)


def measure():
    """Every number of the benchmark, as a dict."""
    seeds = [0] if FLAGS.smoke else list(range(FLAGS.seeds))
    epochs = 2 if FLAGS.smoke else FLAGS.epochs
    n_blocks = FLAGS.n_blocks
    sweeps = task1_sweeps(n_blocks, seeds)
    lanes = [lane for s in sweeps for lane in s[4]]
    steps = sum(-(-len(lane.train_idx) // lane.batch_size) for lane in lanes)
    result = {"date": datetime.date.today().isoformat(), "machine": common.machine_description(),
              "load_average_start": os.getloadavg()[0], "n_blocks": n_blocks, "seeds": len(seeds), "epochs": epochs,
              "train_sizes": list(train_sizes()), "lanes": len(lanes), "steps": steps * epochs,
              "lane_groups": engine_config(epochs).execution.lane_groups, "modes": {}}
    modes, walls = result["modes"], collections.defaultdict(list)

    def keep_fastest(name, run):
        """Records run's wall (and CPU) time; modes[name] is the fastest run of the rounds."""
        walls[name].append(round(run["wall_s"], 2))
        if name not in modes or run["wall_s"] < modes[name]["wall_s"]:
            modes[name] = run
        modes[name]["all_walls_s"] = walls[name]
        save_partial(result)

    torch = None
    if FLAGS.torch:
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            torch = None
    with tempfile.TemporaryDirectory() as cache_dir:
        for round_ in range(FLAGS.rounds):  # the modes interleaved, so a change of load hits all of them
            if torch is not None:
                keep_fastest("torch", dict(time_torch(torch, sweeps, epochs, n_blocks), version=torch.__version__))
            cold_caches(os.path.join(cache_dir, f"round_{round_}"))
            keep_fastest("engine_cold", time_engine(sweeps, epochs, n_blocks))
            if FLAGS.serial_compile:
                cold_caches(os.path.join(cache_dir, f"round_{round_}_serial"))
                keep_fastest("engine_cold_serial_compile", time_engine(sweeps, epochs, n_blocks, compile_workers=1))
            jax.clear_caches()  # in-memory only: the persistent cache stays warm
            keep_fastest("engine_warm_cache", time_engine(sweeps, epochs, n_blocks))
        if FLAGS.one_lane:
            cold_caches(os.path.join(cache_dir, "one_lane"))
            keep_fastest("engine_one_lane", time_engine(sweeps, epochs, n_blocks, one_lane=True))
        result["warm_equals_cold"] = modes["engine_warm_cache"]["test_loss"] == modes["engine_cold"]["test_loss"]
        if "engine_one_lane" in modes:
            result["one_lane_max_rel_diff"] = max_relative_difference(modes["engine_one_lane"]["test_loss"],
                                                                      modes["engine_cold"]["test_loss"])
        result["load_average_end"] = os.getloadavg()[0]
        if FLAGS.flops_n_blocks:
            flops_n = 2 if FLAGS.smoke else FLAGS.flops_n_blocks
            flops_epochs = 2 if FLAGS.smoke else FLAGS.flops_epochs
            result["matmul_flop_per_s"] = matmul_flops(512 if FLAGS.smoke else 2048)
            result["steady"] = {"n_blocks": flops_n, "epochs": flops_epochs, "plan_epochs": FLAGS.flops_plan_epochs,
                                **steady_flops(flops_n, seeds, flops_epochs, FLAGS.flops_plan_epochs)}
    return result


def markdown(r):
    m = r["modes"]
    cold = m["engine_cold"]
    lines = [SECTION, "",
             f"{r['date']}; {r['machine']}; load average {r['load_average_start']:.1f} at start, "
             f"{r['load_average_end']:.1f} at end (this machine's load varies: ratios of runs made side by "
             "side are what to read).", "",
             f"Work: Task 1, n_blocks={r['n_blocks']}, train sizes {r['train_sizes']} (Table 2 batches) x "
             f"{r['seeds']} seeds x {{vanilla, shared}} = {r['lanes']} lanes, {r['epochs']} epochs, no early "
             f"stopping: {r['steps']:,} training steps, validation every epoch, test evaluation at the end. "
             f"Engine lane_groups={r['lane_groups']!r}.", "",
             f"| mode | wall s (fastest of {FLAGS.rounds}) | all rounds | CPU s | vs torch loop, wall | "
             "vs torch loop, CPU | vs engine cold |", "|---|---:|---|---:|---:|---:|---:|"]
    names = {"torch": f"plain sequential PyTorch loop ({m.get('torch', {}).get('version', '')}, "
                      f"{FLAGS.torch_threads} threads)",
             "engine_cold": "engine, cold (empty caches)",
             "engine_cold_serial_compile": "engine, cold, one program compiled at a time",
             "engine_warm_cache": "engine, warm persistent compilation cache",
             "engine_one_lane": "engine, one lane at a time (cold)"}
    for key, name in names.items():
        if key in m:
            t = m[key]
            vs_wall = f"{m['torch']['wall_s'] / t['wall_s']:.2f}x" if "torch" in m else "-"
            vs_cpu = f"{m['torch']['cpu_s'] / t['cpu_s']:.2f}x" if "torch" in m else "-"
            lines.append(f"| {name} | {t['wall_s']:.1f} | {', '.join(f'{w:.1f}' for w in t['all_walls_s'])} | "
                         f"{t['cpu_s']:.1f} | {vs_wall} | {vs_cpu} | {cold['wall_s'] / t['wall_s']:.2f}x |")
    lines += ["", "Where the engine's time goes (seconds, both architectures; trace / lower / compile: jax.monitoring "
                  "durations summed over programs, which compile several at once in threads, so they overlap each "
                  "other and the other columns; sweep compile: the engine's own wall time from the end of init to the "
                  "first epoch):", "",
              "| mode | trace | lower | compile | sweep init | sweep compile (wall) | first epoch | epochs 2.. | "
              "evaluation |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key in ("engine_cold", "engine_cold_serial_compile", "engine_warm_cache", "engine_one_lane"):
        if key in m:
            t = m[key]
            lines.append(f"| {names[key]} | {t['trace_s']:.1f} | {t['lower_s']:.1f} | {t['compile_s']:.1f} | "
                         f"{t['sweep_init_s']:.1f} | {t.get('sweep_compile_s', 0.0):.1f} | "
                         f"{t['sweep_first_epoch_s']:.1f} | {t['epochs_2_on_s']:.1f} | {t['sweep_evaluate_s']:.1f} |")
    fixed = cold["wall_s"] - cold["epochs_2_on_s"] * r["epochs"] / max(r["epochs"] - 1, 1)
    lines += ["", f"- Fixed cost of the cold engine (wall minus {r['epochs']} steady epochs): {fixed:.1f} s for "
                  f"two architecture sweeps, {fixed / 2:.1f} s per sweep.",
              f"- Warm-cache results bitwise equal to cold: {r['warm_equals_cold']}."]
    if "one_lane_max_rel_diff" in r:
        lines.append(f"- One lane at a time vs all lanes together, max relative test-loss difference: "
                     f"{r['one_lane_max_rel_diff']:.1e}.")
    if "steady" in r:
        s = r["steady"]
        lines += ["", f"Steady state at n_blocks={s['n_blocks']} (all lanes of one architecture, epochs 2..{s['epochs']} "
                      f"of a sweep planned for {s['plan_epochs']} epochs), useful training FLOPs (XLA cost analysis of "
                      f"one example's forward + backward x real examples; validation and padding not counted) vs a "
                      f"large float32 matmul at {r['matmul_flop_per_s'] / 1e9:.1f} GFLOP/s. Lane groups 'shape': one "
                      f"program per lane shape, as the task scripts run (no padding); 'auto': the engine's default "
                      f"shape buckets:", "",
                  "| architecture | lane groups | programs | example slots / real examples | s / epoch | FLOP / example | "
                  "GFLOP/s | % of large matmul |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for arch in task1.ARCHITECTURES:
            a = s[arch]
            for groups in ("shape", "auto"):
                g = a[groups]
                lines.append(f"| {arch} | {groups} | {g['programs']} | {g['slots_per_epoch'] / a['examples_per_epoch']:.2f} "
                             f"| {g['epoch_s']:.3f} | {a['flop_per_example']:,.0f} | {g['flop_per_s'] / 1e9:.2f} | "
                             f"{100 * g['flop_per_s'] / r['matmul_flop_per_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    configure_logging(FLAGS.verbose)
    result = measure()
    text = markdown(result)
    publish(text, FLAGS.out)
    if FLAGS.json_out:
        atomic_write_json(FLAGS.json_out, result, indent=1)


if __name__ == "__main__":
    app.run(main)
