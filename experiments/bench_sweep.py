"""Benchmark of the sweep engine: lanes vmapped (one padded program, or one program per shape) vs the
same lanes trained one after another.

Grid (Task-1-like, n_blocks=5): train sizes 40, 80, 400, 800, 4000, 8000 with
batch sizes 4, 8, 16, 32, 128, 256 (val = test = train / 4) x seeds x
augmentation off/on. Model: MLP 5-40-80-40-20-10-1 with LeakyReLU(0.01); data
x ~ U[-2, 2]^5, y = sum_i sin(x_i) + exp(x_i) + log|x_i|; augmentation: a random
permutation of the 5 inputs per example. Fixed epochs, early stopping off.

    python experiments/bench_sweep.py --epochs=20,100 --seeds=3 --out=docs/benchmarks.md

Prints a markdown table; with --out, writes it as the section
"## Sweep engine (experiments/bench_sweep.py)" of that file (other sections kept).
"""

import datetime
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from symjax.io import atomic_write_text
from symjax.tasks.common import machine_description
from symjax.tasks.progress import configure_logging, define_verbose_flag
from symjax.train import Lane, LaneFns, TrainConfig, sweep

FLAGS = flags.FLAGS
define_verbose_flag()
flags.DEFINE_list("epochs", ["20"], "Epochs per lane (fixed, no early stopping); one table per value.")
flags.DEFINE_integer("seeds", 3, "Seeds per (size, augmentation) cell.")
flags.DEFINE_bool("sequential", True, "Also train the lanes one after another for comparison.")
flags.DEFINE_string("out", None, "Markdown file whose sweep-engine section is written/replaced.")

SECTION = "## Sweep engine (experiments/bench_sweep.py)"
SIZES = (40, 80, 400, 800, 4000, 8000)
BATCHES = (4, 8, 16, 32, 128, 256)
WIDTHS = (5, 40, 80, 40, 20, 10, 1)
N_INPUTS = 5
# Forward matmul FLOPs per example (2 per multiply-add); forward + backward ~ 3x forward.
TRAIN_FLOPS_PER_EXAMPLE = 3 * 2 * sum(a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))


def init_fn(key):
    keys = jax.random.split(key, len(WIDTHS) - 1)
    return [{"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros(b)}
            for k, a, b in zip(keys, WIDTHS[:-1], WIDTHS[1:])]


def apply_fn(params, x):
    for layer in params[:-1]:
        x = jax.nn.leaky_relu(x @ layer["w"] + layer["b"], 0.01)
    return (x @ params[-1]["w"] + params[-1]["b"])[:, 0]


def permute_inputs(key, x, y):
    return x[jax.random.permutation(key, N_INPUTS)], y


def make_pool(seed=0):
    """x (N, 5) ~ U[-2, 2], y (N,); N = 1.5 x the largest train size (train + val + test)."""
    n = SIZES[-1] * 3 // 2
    x = np.random.default_rng(seed).uniform(-2.0, 2.0, (n, N_INPUTS)).astype(np.float32)
    y = (np.sin(x) + np.exp(x) + np.log(np.abs(x))).sum(axis=1).astype(np.float32)
    return x, y


def make_lanes(n_seeds, pool_size):
    lanes = []
    for seed in range(n_seeds):
        perm = np.random.default_rng(seed).permutation(pool_size)
        for n, batch in zip(SIZES, BATCHES):
            q = n // 4
            for augment in (False, True):
                lanes.append(Lane(seed=seed, train_idx=perm[:n], val_idx=perm[n:n + q],
                                  test_idx=perm[n + q:n + 2 * q], batch_size=batch, augment=augment,
                                  meta={"setting": "aug" if augment else "plain"}))
    return lanes


def timed_sweep(lanes, x, y, config):
    """(wall seconds of the call, seconds per epoch after the first (compiled) epoch)."""
    stamps = []
    start = time.perf_counter()
    sweep(LaneFns(init_fn, apply_fn, augment=permute_inputs), x, y, lanes, config,
          epoch_callback=lambda epoch, summary: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - start
    steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
    return wall, steady


def matmul_flops(n=2048, repeats=10):
    """FLOP/s of an n x n float32 matmul on the default device (median of `repeats`)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda m: m @ m)
    f(a).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / float(np.median(times))


def lane_steps(lanes):
    """Real steps per epoch of each lane: ceil(train size / batch size)."""
    return [-(-len(l.train_idx) // l.batch_size) for l in lanes]


def write_section(path, text):
    """Replaces (or appends) SECTION in the markdown file at path."""
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.strip() == SECTION), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "".join(lines[:start]) + text + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    atomic_write_text(path, new)


MODES = (
    ("vmapped, one program (lane_groups='single')", "single"),
    ("vmapped, one program per shape (lane_groups='shape')", "shape"),
)


def run_modes(lanes, x, y, epochs):
    """[(mode name, wall s, steady s per epoch, executed examples per epoch)] for one epoch count."""
    steps = lane_steps(lanes)
    results = []
    for name, groups in MODES:
        config = TrainConfig(loss="mse", learning_rate=1e-3, max_epochs=epochs, early_stopping=False, quiet=True,
                             lane_groups=groups)
        if groups == "single":
            executed = len(lanes) * max(steps) * max(l.batch_size for l in lanes)
        else:  # each (batch, steps) group computes exactly its own lanes' shapes
            executed = sum(s * l.batch_size for s, l in zip(steps, lanes))
        jax.clear_caches()  # every mode pays its own compilation
        wall, steady = timed_sweep(lanes, x, y, config)
        results.append((name, wall, steady, executed))
    if FLAGS.sequential:
        config = TrainConfig(loss="mse", learning_rate=1e-3, max_epochs=epochs, early_stopping=False, quiet=True)
        jax.clear_caches()
        walls, steadies = zip(*(timed_sweep([lane], x, y, config) for lane in lanes))
        results.append(("sequential (lanes=[lane], one after another)", sum(walls), sum(steadies),
                        sum(s * l.batch_size for s, l in zip(steps, lanes))))
    return results


def table(results, lanes, epochs, peak):
    steps = lane_steps(lanes)
    real_examples = sum(len(l.train_idx) for l in lanes)
    rows = []
    for name, wall, steady, executed in results:
        rows.append(
            f"| {name} | {wall:.1f} | {steady * epochs:.1f} | {wall - steady * epochs:.1f} | "
            f"{sum(steps) / steady:,.0f} | {executed / real_examples:.2f} | "
            f"{executed * TRAIN_FLOPS_PER_EXAMPLE / steady / 1e9:.2f} | "
            f"{real_examples * TRAIN_FLOPS_PER_EXAMPLE / steady / 1e9:.2f} |")
    lines = [f"### {epochs} epochs", "",
             "| mode | wall s | steady s | wall - steady s | lane-steps/s | executed / real examples | "
             "executed GFLOP/s | useful GFLOP/s |",
             "|---|---|---|---|---|---|---|---|", *rows, ""]
    if FLAGS.sequential:
        wall_seq, steady_seq = results[-1][1], results[-1][2]
        for name, wall, steady, _ in results[:-1]:
            lines.append(f"- {name}: speed-up over sequential {wall_seq / wall:.2f}x in wall time, "
                         f"{steady_seq / steady:.2f}x in steady-state epoch time.")
        (_, wall_one, steady_one, _), (_, _, steady_shape, _) = results[0], results[1]
        outside_one = wall_one - steady_one * epochs  # 'single' time outside its epochs (compilation, evaluation)
        lines.append(f"- Bound from these measurements: a program that compiled like 'single' "
                     f"({outside_one:.1f} s outside the epochs) and trained like 'shape' "
                     f"({steady_shape * epochs:.1f} s) would be {wall_seq / (outside_one + steady_shape * epochs):.2f}x "
                     f"faster than sequential.")
        roofline = epochs * real_examples * TRAIN_FLOPS_PER_EXAMPLE / peak
        lines.append(f"- Roofline bound: a program that compiled like 'single' and trained only the real examples "
                     f"at the large-matmul rate ({roofline:.2f} s for {epochs} epochs) would be "
                     f"{wall_seq / (outside_one + roofline):.2f}x faster than sequential.")
        lines.append("")
    return "\n".join(lines)


def main(argv):
    del argv
    configure_logging(FLAGS.verbose)
    info = f"{machine_description()}; load average at start {os.getloadavg()[0]:.1f}"
    x, y = make_pool()
    lanes = make_lanes(FLAGS.seeds, len(x))
    epoch_counts = [int(e) for e in FLAGS.epochs]
    steps = lane_steps(lanes)
    real_examples = sum(len(l.train_idx) for l in lanes)  # per epoch
    padded_examples = len(lanes) * max(steps) * max(l.batch_size for l in lanes)  # per epoch, one program
    groups = sorted({(l.batch_size, s) for l, s in zip(lanes, steps)})

    peak = matmul_flops()
    tables = [table(run_modes(lanes, x, y, epochs), lanes, epochs, peak) for epochs in epoch_counts]
    text = f"""{SECTION}

{datetime.date.today().isoformat()}; {info}.

Grid: {len(lanes)} lanes = train sizes {SIZES} (batch {BATCHES}, val = test = n/4) x {FLAGS.seeds} seeds x
augmentation off/on; MLP {'-'.join(map(str, WIDTHS))} (LeakyReLU 0.01), Adam 1e-3, fixed epochs
({', '.join(map(str, epoch_counts))}), early stopping off. Wall time is the whole `sweep` call (compilation,
init, validation, test evaluation); steady time is epochs x the mean time of epochs 2..last (no
compilation); wall - steady is mostly compilation. Lane-steps count each lane's real steps
(ceil(n / batch) per epoch, {sum(steps)} per epoch in all). FLOP/s count training matmuls only (3 x 2 x
sum(in x out) = {TRAIN_FLOPS_PER_EXAMPLE} FLOP per example; validation excluded): "executed" counts
every example a program computes, padding included, "useful" only the {real_examples:,} real ones.

Modes: 'single' pads all lanes to {max(steps)} steps of {max(l.batch_size for l in lanes)} examples
({padded_examples:,} examples per epoch) and compiles one epoch program; 'shape' compiles one program
per distinct (batch, steps), here {len(groups)}: {', '.join(f'{b}x{s}' for b, s in groups)}, and
computes no padding; sequential trains each lane alone through the same code, compiling once per
distinct (train size, batch size) and reusing the programs across seeds and augmentation.

Large-matmul reference: 2048x2048 float32 matmul at {peak / 1e9:.1f} GFLOP/s.

{chr(10).join(tables)}"""
    print(text)
    if FLAGS.out:
        write_section(FLAGS.out, text)


if __name__ == "__main__":
    app.run(main)
