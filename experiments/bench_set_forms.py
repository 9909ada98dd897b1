"""Three algebraically equal forms of the S_n set layer (study eq. 10) inside Task 1's shared model.

Issue 26 asks whether the shared model's training steps at n_blocks = 20 can reach 4x the torch loop by
giving XLA:CPU bigger dots. Every layer of the model computes, for x (..., n, d_in),

    y_i = x_i A + (sum_{j != i} x_j) B + b                                  (eq. 10)

and this script times a training step of the whole model (forward, backward, an Adam update; lanes
vmapped and steps scanned, as the engine runs them) with the layer written three ways:

    others      x A + (s - x) B with s = sum_j x_j       symjax.layers.SetLayer (the study's models)
    stacked     [x, s - x] [A; B]                          one dot with the A and B blocks stacked
    difference  x (A - B) + s B                            one dot over the points, one over the set sums

Shapes: Task 1's two lane groups at n_blocks = 20 (the 'auto' plan of the full grid): 12 lanes of at
most 800 examples in batches of at most 32 (25 steps), and 6 lanes of at most 8000 in batches of at most
256 (32 steps). Each form's gradients are compared with SetLayer's (relative max difference): the forms
differ only by rounding. Then each layer's forward dot is timed alone, against a large matmul: the rate
XLA:CPU reaches on the model's shapes bounds every form.

Beside them, for the study's form: the memory traffic of one step (XLA's cost analysis of the compiled
program: bytes accessed, and FLOPs; a loop's body is counted once, i.e. one step) and the rate at which
the step moves it, against a streaming multiply-add over float32 arrays of 1-256 MB (read + write); and
the step compiled with other XLA:CPU options for its dots and fusions (`COMPILER_OPTIONS`), timed
interleaved with the default and checked for bitwise equal parameters after the group's steps.

    python experiments/bench_set_forms.py --out=docs/benchmarks.md
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench_common import publish  # noqa: E402
from symjax.layers import pool  # noqa: E402
from symjax.models.sequential import ACTIVATIONS  # noqa: E402
from symjax.models.set_models import BLOCK_WIDTHS, SharedSetMLP  # noqa: E402
from symjax.tasks.common import machine_description  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("n_blocks", 20, "Set size n.")
flags.DEFINE_integer("repeats", 7, "Timed repetitions of each group's steps (median reported).")
flags.DEFINE_string("out", None, "Markdown file whose section is written (replaced if present).")

SECTION = "## Forms of the set layer in Task 1's shared model (experiments/bench_set_forms.py)"
GROUPS = ((12, 32, 25), (6, 256, 32))  # (lanes, batch, steps)


def layer_stacked(p, x):
    others = jnp.sum(x, axis=-2, keepdims=True) - x
    return jnp.concatenate([x, others], -1) @ jnp.concatenate([p["A"], p["B"]], 0) + p["bias"]


def layer_difference(p, x):
    return x @ (p["A"] - p["B"]) + jnp.sum(x, axis=-2, keepdims=True) @ p["B"] + p["bias"]


FORMS = {"others": None, "stacked": layer_stacked, "difference": layer_difference}  # None: SetLayer itself

#: XLA:CPU compiler options tried on the study's form (name -> options of `Lowered.compile`).
COMPILER_OPTIONS = {
    "default": {},
    "no XNNPACK": {"xla_cpu_use_xnnpack": False},
    "XNN graph fusion": {"xla_cpu_experimental_xnn_graph_fusion_mode": "XNN_GRAPH_FUSION_MODE_GREEDY"},
    "YNN dot fusion": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
    "oneDNN": {"xla_cpu_use_onednn": True},
    "fusion emitters": {"xla_cpu_use_fusion_emitters": True},
    "single-threaded Eigen": {"xla_cpu_multi_thread_eigen": False},
}
STREAM_MB = (1, 4, 16, 64, 256)


def model_apply(model: SharedSetMLP, layer):
    """The shared model's apply with each SetLayer replaced by `layer` (None: SetLayer itself)."""
    if layer is None:
        return model.apply

    act = ACTIVATIONS[model.body.activation]
    n_layers = len(model.body.layers)

    def apply(params, x):
        h = x[..., None]
        for k in range(n_layers):
            h = layer(params[f"layer_{k}"], h)
            if k < n_layers - 1:
                h = act(h)
        return pool(h, axis=-2, kind=model.aggregation)

    return apply


def train_steps(apply):
    """jit of (params (L, ...), xs (S, L, B, n), ys (S, L, B, 1)) -> params after S Adam steps of every lane
    (the engine's optimiser; plain SGD diverges from this model's initial gradients, about 3e6)."""
    opt = optax.adam(1e-3)

    def lane_step(carry, x, y):
        params, opt_state = carry
        grads = jax.grad(lambda p: jnp.mean((apply(p, x) - y) ** 2))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def steps(params, xs, ys):
        carry = (params, jax.vmap(opt.init)(params))
        return jax.lax.scan(lambda c, xy: (jax.vmap(lane_step)(c, *xy), None), carry, (xs, ys))[0][0]

    return jax.jit(steps)


def gradient_difference(model, apply, params, x, y) -> float:
    """max |grad(form) - grad(SetLayer)| / max |grad(SetLayer)| on one lane's batch."""
    loss = lambda a: (lambda p: jnp.mean((a(p, x) - y) ** 2))
    ref = jax.tree.leaves(jax.grad(loss(model.apply))(params))
    got = jax.tree.leaves(jax.grad(loss(apply))(params))
    return max(float(jnp.max(jnp.abs(g - r))) for g, r in zip(got, ref)) / max(float(jnp.max(jnp.abs(r))) for r in ref)


def interleaved_medians(programs: dict, args) -> dict:
    """{name: median seconds of programs[name](*args)} over FLAGS.repeats rounds, the programs interleaved in
    each round (a noisy moment hits every program alike); each runs once untimed first."""
    for program in programs.values():
        jax.block_until_ready(program(*args))
    times = {name: [] for name in programs}
    for _ in range(FLAGS.repeats):
        for name, program in programs.items():
            start = time.perf_counter()
            jax.block_until_ready(program(*args))
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _median_seconds(f, args) -> float:
    return interleaved_medians({"f": f}, args)["f"]


def dot_rates(lanes: int, rows: int) -> tuple[float, list[tuple[int, int, float]]]:
    """GFLOP/s of a 2048 x 2048 float32 matmul, and of each layer's forward dot alone: the lane-batched
    (lanes, rows, d_in) @ (lanes, d_in, d_out) of eq. 10, as (d_in, d_out, GFLOP/s)."""
    key = jax.random.key(2)
    big = jax.random.normal(key, (2048, 2048))
    large = 2 * 2048 ** 3 / _median_seconds(jax.jit(lambda a: a @ a), (big,)) / 1e9
    widths = list(BLOCK_WIDTHS) + [1]
    layers = []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        x = jax.random.normal(key, (lanes, rows, d_in))
        w = jax.random.normal(key, (lanes, d_in, d_out))
        flops = 2 * lanes * rows * d_in * d_out
        layers.append((d_in, d_out, flops / _median_seconds(jax.jit(jnp.matmul), (x, w)) / 1e9))
    return large, layers


def stream_rates() -> list[tuple[int, float]]:
    """(MB, GB/s read + write) of y = 1.5 x + 1 over float32 arrays of STREAM_MB megabytes."""
    f = jax.jit(lambda a: a * 1.5 + 1.0)
    out = []
    for mb in STREAM_MB:
        a = jnp.ones((mb * 2 ** 20 // 4,), jnp.float32)
        out.append((mb, 2 * a.nbytes / _median_seconds(f, (a,)) / 1e9))
    return out


def traffic_and_options(program, args, steps: int) -> tuple[dict, dict]:
    """XLA's count of one step ({"flops", "bytes"}), and {option name: (s per step, bitwise equal to default)}
    for the step compiled with each of COMPILER_OPTIONS (timed interleaved)."""
    lowered = program.lower(*args)
    compiled = {name: lowered.compile(compiler_options=opts) for name, opts in COMPILER_OPTIONS.items()}
    cost = compiled["default"].cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    outputs = {name: jax.tree.leaves(c(*args)) for name, c in compiled.items()}
    same = {name: all(bool(jnp.array_equal(a, b)) for a, b in zip(out, outputs["default"]))
            for name, out in outputs.items()}
    seconds = interleaved_medians(compiled, args)
    return ({"flops": float(cost["flops"]), "bytes": float(cost["bytes accessed"])},
            {name: (seconds[name] / steps, same[name]) for name in compiled})


def main(argv):
    del argv
    model = SharedSetMLP(FLAGS.n_blocks)
    results, traffic, options = {}, {}, {}
    for lanes, batch, steps in GROUPS:
        params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), lanes))
        xs = jax.random.uniform(jax.random.key(1), (steps, lanes, batch, FLAGS.n_blocks))
        ys = jnp.sum(xs ** 2, axis=-1, keepdims=True) / FLAGS.n_blocks
        one = jax.tree.map(lambda a: a[0], params)
        programs = {name: train_steps(model_apply(model, layer)) for name, layer in FORMS.items()}
        seconds = interleaved_medians(programs, (params, xs, ys))
        for name, layer in FORMS.items():
            diff = gradient_difference(model, model_apply(model, layer), one, xs[0, 0], ys[0, 0])
            results[(lanes, batch, steps, name)] = (seconds[name] / steps, diff)
            print(f"{lanes} lanes x batch {batch}: {name} {results[(lanes, batch, steps, name)][0] * 1e3:.3f} ms "
                  f"per step, gradient difference {diff:.1e}", flush=True)
        traffic[(lanes, batch)], options[(lanes, batch)] = traffic_and_options(programs["others"], (params, xs, ys),
                                                                               steps)
        print(f"{lanes} lanes x batch {batch}: {traffic[(lanes, batch)]}, {options[(lanes, batch)]}", flush=True)
    lines = [SECTION, "", f"Measured on {machine_description()} (`python experiments/bench_set_forms.py "
             f"{' '.join(sys.argv[1:])}`); n_blocks = {FLAGS.n_blocks}; median of {FLAGS.repeats} interleaved "
             "repetitions; ms per training step of all the group's lanes (module docstring).", "",
             "| lanes x batch | form | ms per step | time / others | relative gradient difference |",
             "|---|---|---:|---:|---:|"]
    for lanes, batch, steps in GROUPS:
        base = results[(lanes, batch, steps, "others")][0]
        for name in FORMS:
            seconds, diff = results[(lanes, batch, steps, name)]
            lines.append(f"| {lanes} x {batch} | {name} | {seconds * 1e3:.3f} | {seconds / base:.2f} | {diff:.1e} |")
    lanes, batch, _ = GROUPS[-1]
    large, layers = dot_rates(lanes, batch * FLAGS.n_blocks)
    lines += ["", f"Each layer's forward dot alone, {lanes} lanes x ({batch} x {FLAGS.n_blocks} points, d_in) @ "
              f"(d_in, d_out), against a 2048 x 2048 float32 matmul at {large:.0f} GFLOP/s:", "",
              "| d_in -> d_out | GFLOP/s | % of the large matmul's rate |", "|---|---:|---:|"]
    lines += [f"| {d_in} -> {d_out} | {rate:.1f} | {100 * rate / large:.1f} |" for d_in, d_out, rate in layers]
    streams = stream_rates()
    lines += ["", "Memory traffic of one training step of the study's form (XLA's cost analysis) and the rate the "
              "step moves it at; a streaming multiply-add moves " + ", ".join(
                  f"{rate:.1f} GB/s over {mb} MB" for mb, rate in streams) + ":", "",
              "| lanes x batch | MFLOP per step | MB accessed per step | ms per step | GB/s |",
              "|---|---:|---:|---:|---:|"]
    for lanes, batch, steps in GROUPS:
        seconds = results[(lanes, batch, steps, "others")][0]
        t = traffic[(lanes, batch)]
        lines.append(f"| {lanes} x {batch} | {t['flops'] / 1e6:.1f} | {t['bytes'] / 1e6:.1f} | {seconds * 1e3:.3f} | "
                     f"{t['bytes'] / seconds / 1e9:.1f} |")
    lines += ["", "The study's form compiled with other XLA:CPU options (time / default; bitwise: the parameters "
              "after the group's steps equal the default program's):", "",
              "| option | " + " | ".join(f"{lanes} x {batch}" for lanes, batch, _ in GROUPS) + " |",
              "|---|" + "---:|" * len(GROUPS)]
    for name, opts in COMPILER_OPTIONS.items():
        cells = []
        for lanes, batch, _ in GROUPS:
            seconds, same = options[(lanes, batch)][name]
            cells.append(f"{seconds / options[(lanes, batch)]['default'][0]:.2f} ({'bitwise' if same else 'differs'})")
        label = name if not opts else f"{name} (`{', '.join(f'{k}={v}' for k, v in opts.items())}`)"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    publish(text, FLAGS.out)


if __name__ == "__main__":
    app.run(main)
