"""Whole-process timings of ``experiments/task1.py`` at its defaults against a sequential PyTorch loop.

Both sides are timed as whole processes (interpreter start, imports, data, training, evaluation; the
task script also writes its results, report and figures), in interleaved rounds so that a change of the
machine's load hits every side; the fastest round of each is reported and every round listed.

1. **The short sweep a user starts with** (issue 26, target 1): Task 1 at n_blocks = 5, the six Table 2
   train sizes x 3 seeds x {vanilla, shared} = 36 lanes, 20 epochs, no early stopping (16,080 steps).
   * torch: ``experiments/torch_loop_task1.py`` (one lane after another, 2 threads);
   * ``task1.py`` with no tuning flag, cold: an empty compilation cache (``$SYMJAX_COMPILE_CACHE``
     pointed at a new folder, which is where the default ``--compile_cache=auto`` looks);
   * the same, warm: the cache the cold run filled;
   * the same warm with ``--cpu_devices=1`` (the default before the lane groups of a sweep trained on
     separate CPU devices at the same time);
   * the same cold with ``--lane_groups=shape`` (the scripts' default before issue 26).
2. **Steady state at n_blocks = 20** (target 2): per model, the seconds of 10 epochs = a 12-epoch run
   minus a 2-epoch run (whole processes, warm cache; 18 lanes), on both sides. Beside them, the bound the
   machine sets: the epochs' useful FLOPs (XLA's count of one example's forward + backward times the
   training examples) at the rate of a large float32 matmul measured in the same run, and the highest
   torch / engine ratio that rate allows. The engine also with ``--cpu_devices=1``, as item 1.

    python experiments/bench_defaults.py --rounds=2 --out=docs/benchmarks.md \
        --json_out=docs/results/bench_defaults/<date>.json
    python experiments/bench_defaults.py --smoke     # seconds: 2 sizes, 1 seed, 2 epochs, 1 round

With --out, writes the section "## Defaults against a PyTorch loop (experiments/bench_defaults.py)"
of that file (other sections kept).
"""

import datetime
import os
import shutil
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench_common import matmul_flops, run_process, task1_epoch_flops  # noqa: E402
from experiments.bench_common import timed_process as _timed  # noqa: E402
from symjax.io import atomic_write_json, write_markdown_section  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 2, "Interleaved rounds; the fastest of each side is kept.")
flags.DEFINE_integer("short_n_blocks", 5, "n_blocks of the short sweep.")
flags.DEFINE_integer("short_epochs", 20, "Epochs of the short sweep.")
flags.DEFINE_integer("steady_n_blocks", 20, "n_blocks of the steady-state measurement (0: skip).")
flags.DEFINE_integer("seeds", 3, "Seeds per train size.")
flags.DEFINE_bool("grouping", True, "Also time --lane_groups=auto against shape on the --quick runs of Tasks 2 and 3 "
                  "and the set_sum discovery experiment (cold, whole processes).")
flags.DEFINE_bool("torch", True, "Time the PyTorch loop (skipped when torch does not import).")
flags.DEFINE_bool("smoke", False, "Seconds-long run: train sizes 40, 80, 1 seed, 2 and 4 epochs, 1 round.")
flags.DEFINE_string("out", None, "Markdown file whose section is written/replaced.")
flags.DEFINE_string("json_out", None, "Also write every number to this JSON file.")

SECTION = "## Defaults against a PyTorch loop (experiments/bench_defaults.py)"
HERE = os.path.dirname(os.path.abspath(__file__))


def _sizes():
    return "40,80" if FLAGS.smoke else "40,80,400,800,4000,8000"


def flop_bounds(epochs: int) -> dict:
    """{"matmul_flop_per_s": rate, model: useful FLOPs of `epochs` steady epochs} at --steady_n_blocks."""
    sizes = [int(v) for v in _sizes().split(",")]
    out = {"matmul_flop_per_s": matmul_flops(512 if FLAGS.smoke else 2048)}
    for model in ("vanilla", "shared"):
        out[model] = epochs * task1_epoch_flops(model, FLAGS.steady_n_blocks, FLAGS.seeds, sizes)
    return out


def _warm_run(command, cache: str) -> tuple[float, float]:
    """run_process of command(out_dir) with the compilation cache `cache`, after an untimed run (in another
    out_dir) that fills it: a program compiled for another device count is another cache entry."""
    env = {"SYMJAX_COMPILE_CACHE": cache}
    run_process(command(cache + "_fill"), env)
    return run_process(command(cache + "_run"), env)


def torch_cmd(n_blocks, epochs, models):
    return [sys.executable, os.path.join(HERE, "torch_loop_task1.py"), f"--n_blocks={n_blocks}",
            f"--seeds={FLAGS.seeds}", f"--epochs={epochs}", f"--models={models}", f"--train_sizes={_sizes()}"]


def task1_cmd(out_dir, n_blocks, epochs, models, *extra):
    """task1.py with no tuning flag: only the grid, the budget and where to write."""
    return [sys.executable, os.path.join(HERE, "task1.py"), f"--n_blocks={n_blocks}", f"--models={models}",
            f"--seeds={FLAGS.seeds}", f"--train_sizes={_sizes()}", f"--max_epochs={epochs}", "--noearly_stopping",
            "--quiet", f"--out_dir={out_dir}", *extra]


#: The quick runs on which the default lane grouping is compared with 'shape' beside Task 1's short sweep.
GROUPING_RUNS = {
    "task2 --quick": ["task2.py", "--quick"],
    "task3 --quick": ["task3.py", "--quick"],
    "discovery set_sum --quick": ["discovery.py", "--experiment=set_sum", "--quick"],
}


def measure_grouping(work: str) -> dict:
    """{run: {"auto": [s per round], "shape": [...]}}: cold whole processes of GROUPING_RUNS, interleaved."""
    out = {}
    for r in range(FLAGS.rounds):
        for name, (script, *args) in GROUPING_RUNS.items():
            for groups in ("auto", "shape"):
                folder = os.path.join(work, f"g_{script}_{groups}_{r}")
                cmd = [sys.executable, os.path.join(HERE, script), *args, "--quiet", f"--lane_groups={groups}",
                       f"--out_dir={folder}"]
                seconds = _timed(cmd, {"SYMJAX_COMPILE_CACHE": folder + "_cache"})
                out.setdefault(name, {}).setdefault(groups, []).append(seconds)
                print(f"round {r + 1}: {name}, --lane_groups={groups}: {seconds:.1f} s", flush=True)
    return out


def measure(work: str) -> dict:
    """Every round's wall seconds per side: {"short": {side: [s, ...]}, "short_cpu": {side: [CPU s, ...]},
    "steady": {model: {side: [...]}}}."""
    short_epochs = 2 if FLAGS.smoke else FLAGS.short_epochs
    long_epochs, base_epochs = (4, 2) if FLAGS.smoke else (12, 2)
    n = FLAGS.short_n_blocks
    out = {"short": {}, "short_cpu": {}, "steady": {}}

    def add(table, side, seconds):
        table.setdefault(side, []).append(seconds)

    out["load_average"] = [os.getloadavg()[0]]
    for r in range(FLAGS.rounds):
        cold = os.path.join(work, f"cache_short_{r}")
        runs = [("torch", lambda: run_process(torch_cmd(n, short_epochs, "vanilla,shared")))] if FLAGS.torch else []
        runs += [
            ("engine, defaults, cold", lambda: run_process(task1_cmd(os.path.join(work, f"cold_{r}"), n, short_epochs,
                                                              "vanilla,shared"), {"SYMJAX_COMPILE_CACHE": cold})),
            ("engine, defaults, warm", lambda: run_process(task1_cmd(os.path.join(work, f"warm_{r}"), n, short_epochs,
                                                              "vanilla,shared"), {"SYMJAX_COMPILE_CACHE": cold})),
            ("engine, --cpu_devices=1, warm", lambda: _warm_run(
                lambda out_dir: task1_cmd(out_dir, n, short_epochs, "vanilla,shared", "--cpu_devices=1"),
                os.path.join(work, f"cache_one_{r}"))),
            ("engine, --lane_groups=shape, cold", lambda: run_process(
                task1_cmd(os.path.join(work, f"shape_{r}"), n, short_epochs, "vanilla,shared", "--lane_groups=shape"),
                {"SYMJAX_COMPILE_CACHE": os.path.join(work, f"cache_shape_{r}")})),
        ]
        for side, run in runs:
            wall, cpu = run()
            add(out["short"], side, wall)
            add(out["short_cpu"], side, cpu)
            print(f"round {r + 1}: short sweep, {side}: {wall:.1f} s ({cpu:.1f} CPU s)", flush=True)
        if not FLAGS.steady_n_blocks:
            continue
        for model in ("vanilla", "shared"):
            steady = out["steady"].setdefault(model, {})
            cache = os.path.join(work, f"cache_steady_{model}")
            env = {"SYMJAX_COMPILE_CACHE": cache}
            nb = FLAGS.steady_n_blocks
            if r == 0:  # fill the cache of both budgets' programs (the runs below are then warm)
                for epochs in (base_epochs, long_epochs):
                    for extra in ((), ("--cpu_devices=1",)):
                        _timed(task1_cmd(os.path.join(work, f"fill_{model}_{epochs}_{len(extra)}"), nb, epochs, model,
                                         *extra), env)
            if FLAGS.torch:
                add(steady, "torch", _timed(torch_cmd(nb, long_epochs, model))
                    - _timed(torch_cmd(nb, base_epochs, model)))
            for side, extra in (("engine", ()), ("engine, --cpu_devices=1", ("--cpu_devices=1",))):
                add(steady, side, _timed(task1_cmd(os.path.join(work, f"long_{model}_{r}_{len(extra)}"), nb,
                                                   long_epochs, model, *extra), env)
                    - _timed(task1_cmd(os.path.join(work, f"base_{model}_{r}_{len(extra)}"), nb, base_epochs, model,
                                       *extra), env))
            print(f"round {r + 1}: steady {model}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in steady.items()),
                  flush=True)
    if FLAGS.grouping and not FLAGS.smoke:
        out["grouping"] = measure_grouping(work)
    out["load_average"].append(os.getloadavg()[0])
    if FLAGS.steady_n_blocks:
        out["flops"] = flop_bounds(long_epochs - base_epochs)
    out.update(cores=len(os.sched_getaffinity(0)), epochs={"short": short_epochs, "steady": long_epochs - base_epochs},
               sizes=_sizes(), seeds=FLAGS.seeds, n_blocks={"short": n, "steady": FLAGS.steady_n_blocks},
               rounds=FLAGS.rounds)
    return out


def _fastest(sides: dict, side: str) -> str:
    """'fastest (round / round)' of one side, '-' where the run did not measure it (earlier JSON files)."""
    if side not in sides:
        return "-"
    return f"{min(sides[side]):.2f} ({' / '.join(f'{s:.1f}' for s in sides[side])})"


def markdown(r: dict, command: str) -> str:
    best = {side: min(v) for side, v in r["short"].items()}
    rounds = lambda v: " / ".join(f"{s:.1f}" for s in v)  # noqa: E731
    lines = [SECTION, "",
             f"Measured {r['date']} on {r['machine']} (`{command}`); whole processes, interleaved rounds, "
             "the fastest round of each side (every round listed). Load average (1 min) at the start "
             f"{r['load_average'][0]:.2f}, at the end {r['load_average'][1]:.2f}.", "",
             f"**Short sweep** (target: cold >= 2x, warm >= 3x the torch loop): Task 1, n_blocks = "
             f"{r['n_blocks']['short']}, train sizes {r['sizes']} x {r['seeds']} seeds x {{vanilla, shared}}, "
             f"{r['epochs']['short']} epochs, no early stopping. 'CPU s': user + system seconds of the fastest "
             f"round's process, all its threads; divided by the {r['cores']} cores this process may use, the "
             "least wall time in which this machine can do that much work, however it is scheduled.", "",
             "| side | fastest s | rounds s | CPU s | CPU s / cores | torch loop / side |",
             "|---|---:|---|---:|---:|---:|"]
    for side, seconds in r["short"].items():
        ratio = f"{best['torch'] / best[side]:.2f}x" if "torch" in best else "-"
        cpu = r["short_cpu"][side][seconds.index(best[side])]
        lines.append(f"| {side} | {best[side]:.1f} | {rounds(seconds)} | {cpu:.1f} | {cpu / r['cores']:.1f} | "
                     f"{ratio} |")
    if r["steady"]:
        lines += ["", f"**Steady state** (target: >= 4x the torch loop): n_blocks = {r['n_blocks']['steady']}, "
                  f"{r['epochs']['steady']} epochs = a run of {r['epochs']['steady'] + 2} epochs minus one of 2, "
                  "whole processes, warm compilation cache.", "",
                  f"Large float32 matmul: {r['flops']['matmul_flop_per_s'] / 1e9:.0f} GFLOP/s in this run. "
                  "'At the matmul rate': the epochs' useful FLOPs at that rate, the least time any engine needs "
                  "for them; 'bound': torch loop s / that time, the highest ratio reachable.", "",
                  "| model | torch loop s | engine s | rounds (torch; engine) | torch / engine | useful GFLOP "
                  "| engine % of matmul rate | s at the matmul rate | bound on torch / engine "
                  "| engine, --cpu_devices=1 s (rounds) |",
                  "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
        rate = r["flops"]["matmul_flop_per_s"]
        for model, sides in r["steady"].items():
            torch_s, engine_s = min(sides.get("torch", [float("nan")])), min(sides["engine"])
            flop = r["flops"][model]
            lines.append(f"| {model} | {torch_s:.2f} | {engine_s:.2f} | {rounds(sides.get('torch', []))}; "
                         f"{rounds(sides['engine'])} | {torch_s / engine_s:.2f}x | {flop / 1e9:.1f} | "
                         f"{100 * flop / rate / engine_s:.1f} | {flop / rate:.3f} | {torch_s * rate / flop:.1f}x | "
                         f"{_fastest(sides, 'engine, --cpu_devices=1')} |")
    if r.get("grouping"):
        lines += ["", "**Default lane grouping elsewhere**: cold whole processes (an empty compilation cache each) of "
                  "the quick runs, `--lane_groups=auto` (the default) against `shape` (the scripts' earlier default).",
                  "", "| run | auto s | shape s | rounds (auto; shape) | shape / auto |", "|---|---:|---:|---|---:|"]
        for name, sides in r["grouping"].items():
            lines.append(f"| {name} | {min(sides['auto']):.1f} | {min(sides['shape']):.1f} | "
                         f"{rounds(sides['auto'])}; {rounds(sides['shape'])} | "
                         f"{min(sides['shape']) / min(sides['auto']):.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if FLAGS.smoke:
        FLAGS.rounds, FLAGS.seeds = 1, 1
    if FLAGS.torch:
        try:
            import torch  # noqa: F401, PLC0415
        except ImportError:
            print("torch does not import: the PyTorch loop is skipped (pip install -e '.[bench]')")
            FLAGS.torch = False
    work = tempfile.mkdtemp(prefix="bench_defaults_")
    try:
        result = measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import platform  # noqa: PLC0415

    result.update(date=datetime.date.today().isoformat(),
                  machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    command = "python experiments/bench_defaults.py " + " ".join(sys.argv[1:])
    text = markdown(result, command)
    print(text)
    if FLAGS.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json_out)), exist_ok=True)
        atomic_write_json(FLAGS.json_out, result, indent=1)
    if FLAGS.out:
        write_markdown_section(FLAGS.out, text)


if __name__ == "__main__":
    app.run(main)
