"""The dots of Task 1's vanilla training alone: the least time any implementation on this CPU needs for the
steady state of issue 26's target 2, beside the torch loop and the engine measured in the same run.

The vanilla model at n_blocks = n is a dense MLP of widths n x (1, 8, 16, 8, 4, 2), 1. One training step of
a lane of batch B holds, for its 6 layers k of a_k -> b_k units, the forward dot (B x a)(a x b), the
weight-gradient dot (a x B)(B x b) and, above the first layer, the input-gradient dot (B x b)(b x a):
D = 2 B (3 sum_k a_k b_k - a_1 b_1) FLOPs, 99 % of what XLA counts for the model's forward and backward
(the rest is elementwise). Every implementation does at least these dots.

For each Table 2 batch size the dots of --steps training steps (each step's own inputs; the weights take
a step of plain gradient descent so that no step can be skipped or hoisted) are timed four ways, the fastest
of --repeats each:

* ``xla, lanes batched``: one jitted scan over the steps, the lanes of that batch size (the seeds) batched
  in each dot, as ``jax.vmap`` lays out the engine's programs;
* ``xla, one lane``: the same for one lane, times the lanes;
* ``torch``: ``torch.matmul`` per lane, as many threads as the torch loop uses (2; skipped, with the torch loop,
  where torch, the `bench` extra, is not installed);
* ``numpy``: ``np.matmul`` per lane (the BLAS numpy links).

**The bound**: every real training example of the steady state's 10 epochs (the seeds x Table 2 train sizes
of ``bench_defaults.py``) at the fastest of the four rates for its batch size; no padding, no elementwise
work, no optimiser, no validation. Beside it, in interleaved rounds, the torch loop and ``task1.py`` (warm
cache, no tuning flag) measured as ``bench_defaults.py`` measures them: a 12-epoch whole process minus a
2-epoch one. The target, engine <= torch loop / 4, is reachable only where that time is at least the bound.

    python experiments/bench_dots.py --out=docs/benchmarks.md --json_out=docs/results/bench_dots/<date>.json
    python experiments/bench_dots.py --smoke          # seconds: n_blocks 2, 2 sizes, 1 round, no processes

With --out, writes the section "## The vanilla model's dots alone (experiments/bench_dots.py)" of that
file (other sections kept).
"""

import datetime
import os
import platform
import shutil
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from experiments.bench_common import call_seconds, matmul_flops, publish, task1_epoch_flops  # noqa: E402
from experiments.bench_common import timed_process as _timed  # noqa: E402
from symjax.data.set_function import TABLE2  # noqa: E402
from symjax.io import atomic_write_json  # noqa: E402
from symjax.models.set_models import BLOCK_WIDTHS  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("n_blocks", 20, "Task 1 n_blocks of the vanilla model.", lower_bound=1)
flags.DEFINE_integer("seeds", 3, "Seeds per train size (the lanes of each batch size).", lower_bound=1)
flags.DEFINE_integer("steps", 32, "Training steps timed per measurement.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed repeats of each measurement; the fastest is kept.", lower_bound=1)
flags.DEFINE_integer("rounds", 2, "Interleaved rounds of the whole-process timings; the fastest of each side.",
                     lower_bound=1)
flags.DEFINE_integer("threads", 2, "torch threads (the torch loop's).", lower_bound=1)
flags.DEFINE_bool("processes", True, "Also time the torch loop and task1.py as whole processes (12 - 2 epochs).")
flags.DEFINE_bool("smoke", False, "Seconds-long run: n_blocks 2, train sizes 40 and 80, 1 repeat, no processes.")
flags.DEFINE_string("out", None, "Markdown file whose section is written/replaced.")
flags.DEFINE_string("json_out", None, "Also write every number to this JSON file.")

SECTION = "## The vanilla model's dots alone (experiments/bench_dots.py)"
HERE = os.path.dirname(os.path.abspath(__file__))
EPOCHS = 10  # the steady state: a 12-epoch run minus a 2-epoch run
WAYS = ("xla, lanes batched", "xla, one lane", "torch", "numpy")


def widths(n_blocks: int) -> list[int]:
    return [n_blocks * w for w in BLOCK_WIDTHS] + [1]


def step_dot_flops(batch: int, n_blocks: int) -> int:
    """D: FLOPs of one step's dots for one lane of this batch (forward, weight and input gradients)."""
    w = widths(n_blocks)
    products = [a * b for a, b in zip(w[:-1], w[1:])]
    return 2 * batch * (3 * sum(products) - products[0])


def _inputs(lanes: int, batch: int, n_blocks: int, steps: int):
    """(x (S, L, B, a_1), top gradients (S, L, B, 1), weights [(L, a_k, b_k)]) as float32 numpy arrays."""
    rng = np.random.default_rng(0)
    w = widths(n_blocks)
    x = rng.standard_normal((steps, lanes, batch, w[0]), dtype=np.float32)
    g = rng.standard_normal((steps, lanes, batch, 1), dtype=np.float32)
    weights = [rng.standard_normal((lanes, a, b), dtype=np.float32) / np.float32(np.sqrt(a))
               for a, b in zip(w[:-1], w[1:])]
    return x, g, weights


def xla_steps(lanes: int, batch: int, n_blocks: int, steps: int, repeats: int) -> float:
    """Seconds of `steps` steps' dots of `lanes` lanes batched in each dot (one jitted scan)."""
    x, g, weights = _inputs(lanes, batch, n_blocks, steps)

    def step(ws, inputs):
        xs, top, lr = inputs
        hs = [xs]
        for w in ws:  # forward: (L, B, a) (L, a, b)
            hs.append(jnp.einsum("lba,lac->lbc", hs[-1], w))
        grad, grads = top, []
        for k in reversed(range(len(ws))):
            grads.append(jnp.einsum("lba,lbc->lac", hs[k], grad))  # weight gradient (L, a, B) (L, B, b)
            if k:
                grad = jnp.einsum("lbc,lac->lba", grad, ws[k])  # input gradient (L, B, b) (L, b, a)
        return [w - lr * d for w, d in zip(ws, reversed(grads))], None

    lr = jnp.zeros((steps,), jnp.float32)  # a runtime zero: the update cannot be folded away
    run_steps = jax.jit(lambda ws, xs, top, lr: jax.lax.scan(step, ws, (xs, top, lr))[0])
    args = (weights, x, g, lr)
    return min(call_seconds(lambda: jax.block_until_ready(run_steps(*args)), repeats))


def library_steps(matmul, lanes: int, batch: int, n_blocks: int, steps: int, repeats: int, convert) -> float:
    """Seconds of the same dots, one lane after another, with a library's matmul on arrays from `convert`."""
    x, g, weights = _inputs(lanes, batch, n_blocks, steps)
    x, g = convert(x), convert(g)
    weights = [convert(w) for w in weights]

    def run():
        for s in range(steps):
            for lane in range(lanes):
                ws = [w[lane] for w in weights]
                hs = [x[s, lane]]
                for w in ws:
                    hs.append(matmul(hs[-1], w))
                grad = g[s, lane]
                for k in reversed(range(len(ws))):
                    d = matmul(hs[k].T, grad)
                    if k:
                        grad = matmul(grad, ws[k].T)
                    ws[k] -= 0.0 * d

    return min(call_seconds(run, repeats))


def _torch():
    """torch with --threads threads, or None where it does not import (it is the `bench` extra)."""
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    torch.set_num_threads(FLAGS.threads)
    return torch


def measure_rates(batches: list[int]) -> dict:
    """{way: {batch: dot FLOP/s}} (WAYS, without torch where it does not import) and the large-matmul rate."""
    n, lanes, steps, repeats = FLAGS.n_blocks, FLAGS.seeds, FLAGS.steps, FLAGS.repeats
    torch = _torch()
    if torch is None:
        print("torch does not import: its way and the torch loop are skipped (pip install -e '.[bench]')")
    rates = {way: {} for way in WAYS if torch is not None or way != "torch"}
    for batch in batches:
        flops = step_dot_flops(batch, n) * steps * lanes
        seconds = {
            "xla, lanes batched": xla_steps(lanes, batch, n, steps, repeats),
            "xla, one lane": lanes * xla_steps(1, batch, n, steps, repeats),
            "numpy": library_steps(np.matmul, lanes, batch, n, steps, repeats, np.asarray),
        }
        if torch is not None:
            seconds["torch"] = library_steps(torch.matmul, lanes, batch, n, steps, repeats, torch.from_numpy)
        for way, s in seconds.items():
            rates[way][batch] = flops / s
        print(f"batch {batch}: " + ", ".join(f"{way} {flops / s / 1e9:.1f} GFLOP/s" for way, s in seconds.items()),
              flush=True)
    return {"rates": rates, "matmul_flop_per_s": matmul_flops(512 if FLAGS.smoke else 2048)}


def measure_processes(sizes: list[int], work: str) -> dict:
    """{side: [10 steady epochs' seconds per round]}: 12-epoch minus 2-epoch whole processes, interleaved."""
    common = [f"--n_blocks={FLAGS.n_blocks}", f"--seeds={FLAGS.seeds}", "--models=vanilla",
              f"--train_sizes={','.join(map(str, sizes))}"]

    def torch_cmd(epochs):
        return [sys.executable, os.path.join(HERE, "torch_loop_task1.py"), *common, f"--epochs={epochs}"]

    def engine_cmd(epochs, out_dir):
        return [sys.executable, os.path.join(HERE, "task1.py"), *common, f"--max_epochs={epochs}",
                "--noearly_stopping", "--quiet", f"--out_dir={out_dir}"]

    env = {"SYMJAX_COMPILE_CACHE": os.path.join(work, "cache")}
    for epochs in (2, 12):  # fill the cache: the timed engine runs are warm
        _timed(engine_cmd(epochs, os.path.join(work, f"fill_{epochs}")), env)
    out = {"torch": [], "engine": []} if _torch() is not None else {"engine": []}
    for r in range(FLAGS.rounds):
        if "torch" in out:
            out["torch"].append(_timed(torch_cmd(12)) - _timed(torch_cmd(2)))
        out["engine"].append(_timed(engine_cmd(12, os.path.join(work, f"long_{r}")), env)
                             - _timed(engine_cmd(2, os.path.join(work, f"base_{r}")), env))
        print(f"round {r + 1}: " + ", ".join(f"{side} {v[-1]:.2f} s" for side, v in out.items()), flush=True)
    return out


def bound_seconds(rates: dict, sizes: list[int], batch_of: dict) -> dict:
    """{way or 'best': seconds of the steady state's dots} (every lane's real examples, EPOCHS epochs)."""
    out = {}
    for way in (*rates, "best"):
        total = 0.0
        for size in sizes:
            batch = batch_of[size]
            rate = max(r[batch] for r in rates.values()) if way == "best" else rates[way][batch]
            total += FLAGS.seeds * EPOCHS * size * step_dot_flops(1, FLAGS.n_blocks) / rate
        out[way] = total
    return out


def markdown(r: dict, command: str) -> str:
    rates, sizes = r["rates"], r["sizes"]
    ways = [w for w in WAYS if w in rates]
    large, xla = r["matmul_flop_per_s"], r["xla_example_flops"]
    lines = [SECTION, "",
             f"Measured {r['date']} on {r['machine']} (`{command}`). Vanilla at n_blocks = {r['n_blocks']} "
             f"(widths {'-'.join(map(str, widths(r['n_blocks'])))}), {r['seeds']} lanes per batch size, "
             f"{r['steps']} steps per measurement, the fastest of {r['repeats']}. Large float32 matmul "
             f"(XLA, 2048 x 2048): {large / 1e9:.0f} GFLOP/s. One example's dots: "
             f"{step_dot_flops(1, r['n_blocks']):,} FLOPs, {100 * step_dot_flops(1, r['n_blocks']) / xla:.1f} % of "
             f"the {xla:,.0f} that XLA counts for its forward and backward.", "",
             "Dot rate of one training step's dots, GFLOP/s (% of the large matmul):", "",
             "| batch | train sizes | " + " | ".join(ways) + " |", "|---:|---|" + "---:|" * len(ways)]
    for batch in sorted({r["batch_of"][str(s)] for s in sizes}):
        at = [str(s) for s in sizes if r["batch_of"][str(s)] == batch]
        cells = [f"{rates[w][str(batch)] / 1e9:.1f} ({100 * rates[w][str(batch)] / large:.0f} %)" for w in ways]
        lines.append(f"| {batch} | {', '.join(at)} | " + " | ".join(cells) + " |")
    b = r["bound_s"]
    lines += ["", f"The steady state's dots ({EPOCHS} epochs, {r['seeds']} seeds x train sizes "
              f"{', '.join(map(str, sizes))}; {r['dot_gflop']:.1f} GFLOP), at each way's rates: "
              + ", ".join(f"{w} {b[w]:.2f} s" for w in ways)
              + f"; at the fastest way for each batch size **{b['best']:.2f} s**, at the large-matmul rate "
              f"{r['dot_gflop'] * 1e9 / large:.2f} s."]
    if r.get("processes") and "torch" in r["processes"]:
        torch_s, engine_s = min(r["processes"]["torch"]), min(r["processes"]["engine"])
        rounds = lambda v: " / ".join(f"{s:.2f}" for s in v)  # noqa: E731
        lines += ["", "| side | 10 steady epochs s (fastest) | rounds | torch loop / side |", "|---|---:|---|---:|",
                  f"| torch loop | {torch_s:.2f} | {rounds(r['processes']['torch'])} | 1.00x |",
                  f"| engine (`task1.py`, warm) | {engine_s:.2f} | {rounds(r['processes']['engine'])} | "
                  f"{torch_s / engine_s:.2f}x |",
                  f"| the dots alone, fastest way per batch size | {b['best']:.2f} | - | {torch_s / b['best']:.2f}x |",
                  "", f"4x the torch loop allows {torch_s / 4:.2f} s; the dots alone, at the fastest rate measured "
                  f"here for each batch size, need {b['best']:.2f} s: the highest torch / engine ratio any "
                  f"implementation with these libraries can reach on this machine is {torch_s / b['best']:.2f}x, "
                  "and only with its elementwise work, optimiser, validation and padding free."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if FLAGS.smoke:
        FLAGS.n_blocks, FLAGS.repeats, FLAGS.steps, FLAGS.processes = 2, 1, 4, False
    sizes = [40, 80] if FLAGS.smoke else list(TABLE2)
    batch_of = {size: TABLE2[size][2] for size in sizes}  # (val, test, batch) per train size
    result = measure_rates(sorted(set(batch_of.values())))
    result["rates"] = {way: {str(b): v for b, v in per.items()} for way, per in result["rates"].items()}
    numeric_rates = {way: {int(b): v for b, v in per.items()} for way, per in result["rates"].items()}
    result.update(bound_s=bound_seconds(numeric_rates, sizes, batch_of), sizes=sizes,
                  batch_of={str(s): b for s, b in batch_of.items()}, n_blocks=FLAGS.n_blocks, seeds=FLAGS.seeds,
                  steps=FLAGS.steps, repeats=FLAGS.repeats, date=datetime.date.today().isoformat(),
                  machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                  dot_gflop=FLAGS.seeds * EPOCHS * sum(sizes) * step_dot_flops(1, FLAGS.n_blocks) / 1e9,
                  xla_example_flops=task1_epoch_flops("vanilla", FLAGS.n_blocks, 1, [40]) / 40)
    if FLAGS.processes:
        work = tempfile.mkdtemp(prefix="bench_dots_")
        try:
            result["processes"] = measure_processes(sizes, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    command = "python experiments/bench_dots.py " + " ".join(sys.argv[1:])
    if FLAGS.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json_out)), exist_ok=True)
        atomic_write_json(FLAGS.json_out, result, indent=1)
    publish(markdown(result, command), FLAGS.out)


if __name__ == "__main__":
    app.run(main)
