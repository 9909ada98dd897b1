"""The full Task 1 grid: `experiments/task1.py` at its defaults against a sequential PyTorch loop (issue 26).

Target 4 of issue 26 (at least 3x, measured on both sides):

* engine: the whole grid as one process, cold (an empty compilation cache), timed end to end; its
  results.csv gives the epochs every lane trained (early stopping included);
* torch: every (n_blocks, model) of the grid as one ``experiments/torch_loop_task1.py`` process over all
  its train sizes and seeds for --torch_epochs epochs; each lane's time is scaled to the epochs the
  engine's lane ran: lane fixed cost (its wall time minus its epochs) + the median of its epochs after
  the first x the engine's epochs. The torch side's total adds the smallest process overhead (interpreter
  and torch import) once, as one sequential loop over the grid would pay it.

    python experiments/bench_grid.py --out=docs/benchmarks.md --json_out=docs/results/bench_grid/<date>.json
    python experiments/bench_grid.py --smoke      # seconds: n_blocks 1, 2; sizes 40, 80; 1 seed; 5 epochs

Run it on a quiet machine: a second process on the cores slows PyTorch's two OpenMP threads by up to two
orders of magnitude (measured: 7 ms against 960 ms per epoch of a 40-example lane).
"""

import csv
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from symjax.io import atomic_write_json, write_markdown_section  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("torch_epochs", 3, "Epochs each torch lane trains (the first is not used for the epoch time).")
flags.DEFINE_bool("smoke", False, "Seconds-long run: n_blocks 1, 2; train sizes 40, 80; 1 seed; at most 5 epochs.")
flags.DEFINE_string("out", None, "Markdown file whose section is written/replaced.")
flags.DEFINE_string("json_out", None, "Also write every number to this JSON file.")

SECTION = "## The full Task 1 grid against a PyTorch loop (experiments/bench_grid.py)"
HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug")


def grid_flags() -> list[str]:
    """task1.py's grid: its defaults, or the smoke grid."""
    if FLAGS.smoke:
        return ["--n_blocks=1,2", "--train_sizes=40,80", "--seeds=1", "--max_epochs=5"]
    return []


def grid_values(rows) -> tuple[list[int], list[int], int]:
    """(n_blocks, train sizes, seeds) of the engine's rows."""
    return (sorted({int(r["setting"]) for r in rows}), sorted({int(r["train_size"]) for r in rows}),
            len({int(r["seed"]) for r in rows}))


def run_engine(work: str) -> tuple[float, list[dict]]:
    out_dir = os.path.join(work, "engine")
    cmd = [sys.executable, os.path.join(HERE, "task1.py"), *grid_flags(), "--quiet", f"--out_dir={out_dir}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "SYMJAX_COMPILE_CACHE": os.path.join(work, "cache")},
                   capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open(os.path.join(out_dir, "results.csv"), newline="") as f:
        return wall, list(csv.DictReader(f))


def sweep_seconds(rows) -> dict[str, float]:
    """Wall seconds of each of the engine's sweeps (one per n_blocks and architecture: a sweep's rows all
    carry its wall time), keyed '<n_blocks>_<architecture>' with architecture 'vanilla' or 'shared'."""
    seconds = {}
    for r in rows:
        key = f"{int(r['setting'])}_{r['model'].removesuffix('_aug')}"
        seconds[key] = max(seconds.get(key, 0.0), float(r["wall_s"]))
    return seconds


def run_torch(work: str, n_blocks: int, model: str, sizes, seeds: int) -> dict:
    path = os.path.join(work, f"torch_{n_blocks}_{model}.json")
    cmd = [sys.executable, os.path.join(HERE, "torch_loop_task1.py"), f"--n_blocks={n_blocks}", f"--models={model}",
           f"--seeds={seeds}", f"--epochs={FLAGS.torch_epochs}", f"--train_sizes={','.join(map(str, sizes))}",
           f"--json_out={path}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open(path) as f:
        result = json.load(f)
    result["process_s"] = wall
    return result


def scaled_torch(result: dict, engine_epochs: dict) -> float:
    """Seconds the torch loop would take for this (n_blocks, model)'s lanes at the engine's epochs."""
    total = 0.0
    for lane in result["per_lane"]:
        epochs = lane["epoch_s"]
        steady = statistics.median(epochs[1:] if len(epochs) > 1 else epochs)
        fixed = lane["wall_s"] - sum(epochs)
        key = (lane["n_blocks"], lane["model"], lane["train_size"], lane["seed"])
        total += fixed + steady * engine_epochs[key]
    return total


def markdown(r: dict, command: str) -> str:
    lines = [SECTION, "",
             f"Measured {r['date']} on {r['machine']} (`{command}`); load average (1 min) at the start "
             f"{r['load_average'][0]:.2f}, at the end {r['load_average'][1]:.2f}. Grid: n_blocks "
             f"{r['grid']['n_blocks']}, train sizes {r['grid']['train_sizes']}, {r['grid']['seeds']} seeds, "
             f"models {', '.join(MODELS)}; the engine trained {r['engine_epochs_total']} lane-epochs "
             "(early stopping). Torch: each lane trained "
             f"{FLAGS.torch_epochs} epochs and scaled to the engine's epochs for that lane (module docstring).", "",
             "| side | seconds |", "|---|---:|",
             f"| engine: `experiments/task1.py` at its defaults, cold, whole process | {r['engine_s']:.1f} |",
             f"| torch loop, scaled to the engine's epochs (+ {r['torch_overhead_s']:.1f} s process overhead) | "
             f"{r['torch_s']:.1f} |",
             f"| **torch / engine** | **{r['torch_s'] / r['engine_s']:.2f}x** |", "",
             "Torch seconds per (n_blocks, model), scaled:", "",
             "| n_blocks | " + " | ".join(MODELS) + " |", "|---:|" + "---:|" * len(MODELS)]
    for n in r["grid"]["n_blocks"]:
        lines.append(f"| {n} | " + " | ".join(f"{r['torch_parts'][f'{n}_{m}']:.1f}" for m in MODELS) + " |")
    sweeps = r["engine_sweeps"]
    lines += ["", "Per architecture: the engine's sweep (its own wall time: compilation, training of the plain and "
              "augmented lanes together, evaluation) against the torch loop's two models of that architecture, "
              "scaled:", "", "| n_blocks | architecture | torch s | engine sweep s | torch / engine |",
              "|---:|---|---:|---:|---:|"]
    for n in r["grid"]["n_blocks"]:
        for arch in ("vanilla", "shared"):
            torch_s = r["torch_parts"][f"{n}_{arch}"] + r["torch_parts"][f"{n}_{arch}_aug"]
            engine = sweeps[f"{n}_{arch}"]
            lines.append(f"| {n} | {arch} | {torch_s:.1f} | {engine:.1f} | {torch_s / engine:.2f}x |")
    outside = r["engine_s"] - sum(sweeps.values())
    lines += ["", f"Outside the sweeps (imports, data, the report with its figures, process exit): {outside:.1f} s "
              f"of the engine's {r['engine_s']:.1f} s."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    work = tempfile.mkdtemp(prefix="bench_grid_")
    try:
        load = [os.getloadavg()[0]]
        engine_s, rows = run_engine(work)
        print(f"engine: {engine_s:.1f} s", flush=True)
        n_blocks, sizes, seeds = grid_values(rows)
        engine_epochs = {(int(r["setting"]), r["model"], int(r["train_size"]), int(r["seed"])): int(r["epochs"])
                         for r in rows}
        parts, overheads = {}, []
        for n in n_blocks:
            for model in MODELS:
                result = run_torch(work, n, model, sizes, seeds)
                parts[f"{n}_{model}"] = scaled_torch(result, engine_epochs)
                overheads.append(result["process_s"] - sum(lane["wall_s"] for lane in result["per_lane"]))
                print(f"torch n_blocks={n} {model}: {parts[f'{n}_{model}']:.1f} s scaled", flush=True)
        load.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import platform  # noqa: PLC0415

    result = {"date": datetime.date.today().isoformat(),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "load_average": load, "engine_s": engine_s, "engine_epochs_total": sum(engine_epochs.values()),
              "engine_sweeps": sweep_seconds(rows),
              "grid": {"n_blocks": n_blocks, "train_sizes": sizes, "seeds": seeds},
              "torch_parts": parts, "torch_overhead_s": min(overheads),
              "torch_s": sum(parts.values()) + min(overheads)}
    text = markdown(result, "python experiments/bench_grid.py " + " ".join(sys.argv[1:]))
    print(text)
    if FLAGS.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json_out)), exist_ok=True)
        atomic_write_json(FLAGS.json_out, result, indent=1)
    if FLAGS.out:
        write_markdown_section(FLAGS.out, text)


if __name__ == "__main__":
    app.run(main)
