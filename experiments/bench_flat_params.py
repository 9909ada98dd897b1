"""One flat vector per lane against the parameter pytree, for Task 1's vanilla training step (issue 26).

The engine keeps each lane's parameters and Adam state as pytrees: every step updates, checks and selects
each leaf. Folding them into one vector per lane (``jax.flatten_util.ravel_pytree``), so that Adam's update,
the finiteness check and the masked update each run once over one buffer, was measured 10-14x slower in an
earlier trial (docs/benchmarks.md). This script times the three forms in one process, each a jitted scan of
--steps training steps of the vanilla model (n_blocks --n_blocks) vmapped over --lanes lanes of batch
--batch, with Adam and the engine's finiteness check and masked update:

* ``pytree``: the engine's form (parameters and Adam state as pytrees);
* ``flat``: parameters and Adam state as one vector per lane; the step's gradient is taken with respect to
  that vector (the model reads its leaves through ``unravel``);
* ``flat adam``: parameters as a pytree, the gradient raveled and Adam run on one vector, its update
  unraveled back.

For each: the wall time of the scan (fastest of --repeats) and, from a ``jax.profiler`` trace of 3 more
calls, the time per kind of XLA operation (summed over threads).

    python experiments/bench_flat_params.py --out=docs/benchmarks.md
    python experiments/bench_flat_params.py --n_blocks=20 --out=docs/benchmarks.md
    python experiments/bench_flat_params.py --smoke    # seconds

With --out, writes the section "## One flat vector per lane (experiments/bench_flat_params.py, n_blocks = N)"
of that file (other sections kept).
"""

import os
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

from experiments.bench_common import call_seconds, op_seconds, publish  # noqa: E402
from symjax.models.set_models import VanillaSetMLP  # noqa: E402
from symjax.train.epoch import _all_finite, _tree_where  # noqa: E402  (the engine's step helpers)

FLAGS = flags.FLAGS
flags.DEFINE_integer("n_blocks", 5, "Task 1 n_blocks of the vanilla model.", lower_bound=1)
flags.DEFINE_integer("lanes", 3, "Lanes vmapped in the program.", lower_bound=1)
flags.DEFINE_integer("batch", 256, "Batch size of every step.", lower_bound=1)
flags.DEFINE_integer("steps", 32, "Training steps per call (Table 2's 8000 examples at batch 256: 32).", lower_bound=1)
flags.DEFINE_integer("repeats", 7, "Timed calls per form; the fastest is kept.", lower_bound=1)
flags.DEFINE_bool("smoke", False, "Seconds-long run: n_blocks 2, 4 steps, 1 repeat.")
flags.DEFINE_string("out", None, "Markdown file whose section is written/replaced.")

FORMS = ("pytree", "flat", "flat adam")


def lane_program(form: str, model, opt):
    """(params, xs (S, B, n), ys (S, B, 1)) -> (params, Adam state) after S steps of one lane in `form`."""

    def loss(params, x, y):
        return jnp.mean((model.apply(params, x) - y) ** 2)

    def pytree(params, xs, ys):
        def step(carry, xy):
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p, *xy)
            updates, s_new = opt.update(grads, s, p)
            p_new = optax.apply_updates(p, updates)
            keep = jnp.isfinite(value) & _all_finite(p_new)
            return (_tree_where(keep, p_new, p), _tree_where(keep, s_new, s)), None

        return lax.scan(step, (params, opt.init(params)), (xs, ys))[0]

    def flat(params, xs, ys):
        vector, unravel = ravel_pytree(params)

        def step(carry, xy):
            v, s = carry
            value, grads = jax.value_and_grad(lambda w, x, y: loss(unravel(w), x, y))(v, *xy)
            updates, s_new = opt.update(grads, s, v)
            v_new = v + updates
            keep = jnp.isfinite(value) & jnp.all(jnp.isfinite(v_new))
            return (jnp.where(keep, v_new, v), _tree_where(keep, s_new, s)), None

        return lax.scan(step, (vector, opt.init(vector)), (xs, ys))[0]

    def flat_adam(params, xs, ys):
        vector, unravel = ravel_pytree(params)

        def step(carry, xy):
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p, *xy)
            p_vector = ravel_pytree(p)[0]
            updates, s_new = opt.update(ravel_pytree(grads)[0], s, p_vector)
            p_new = unravel(p_vector + updates)
            keep = jnp.isfinite(value) & _all_finite(p_new)
            return (_tree_where(keep, p_new, p), _tree_where(keep, s_new, s)), None

        return lax.scan(step, (params, opt.init(vector)), (xs, ys))[0]

    return {"pytree": pytree, "flat": flat, "flat adam": flat_adam}[form]


def measure(form: str) -> dict:
    model = VanillaSetMLP(FLAGS.n_blocks)
    params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), FLAGS.lanes))
    xs = jax.random.normal(jax.random.key(1), (FLAGS.lanes, FLAGS.steps, FLAGS.batch, FLAGS.n_blocks))
    ys = jnp.sum(xs, axis=-1, keepdims=True)
    program = jax.jit(jax.vmap(lane_program(form, model, optax.adam(1e-3))))
    times = call_seconds(lambda: jax.block_until_ready(program(params, xs, ys)), FLAGS.repeats)
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
        for _ in range(3):
            jax.block_until_ready(program(params, xs, ys))
        jax.profiler.stop_trace()
        ops = {kind: s / 3 for kind, s in op_seconds(trace_dir).items()}
    return {"wall_s": min(times), "rounds": times, "ops": ops}


def markdown(results: dict, command: str) -> str:
    base = results["pytree"]["wall_s"]
    kinds = sorted({k for r in results.values() for k, s in r["ops"].items() if s >= 0.05 * sum(r["ops"].values())},
                   key=lambda k: -results["pytree"]["ops"].get(k, 0.0))
    lines = [f"## One flat vector per lane (experiments/bench_flat_params.py, n_blocks = {FLAGS.n_blocks})", "",
             f"Measured on {jax.devices()[0].platform} ({os.cpu_count()} cores, jax {jax.__version__}; `{command}`): "
             f"Task 1 vanilla, {FLAGS.lanes} lanes x batch {FLAGS.batch}, {FLAGS.steps} steps per call, Adam, the "
             f"finiteness check and masked update of every step; the fastest of {FLAGS.repeats} calls, and XLA's "
             "operation time per call by kind (3 profiled calls, summed over threads; kinds of at least 5 % in a form, "
             "then all operations).", "",
             "| form | ms per call | / pytree | " + " | ".join(f"{k} ms" for k in kinds) + " | all operations ms |",
             "|---|---:|---:|" + "---:|" * (len(kinds) + 1)]
    for form, r in results.items():
        cells = " | ".join(f"{1e3 * r['ops'].get(k, 0.0):.1f}" for k in kinds)
        lines.append(f"| {form} | {1e3 * r['wall_s']:.1f} | {r['wall_s'] / base:.2f}x | {cells} | "
                     f"{1e3 * sum(r['ops'].values()):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if FLAGS.smoke:
        FLAGS.n_blocks, FLAGS.steps, FLAGS.repeats = 2, 4, 1
    results = {}
    for form in FORMS:
        results[form] = measure(form)
        print(f"{form}: {1e3 * results[form]['wall_s']:.1f} ms per call "
              f"(calls {', '.join(f'{1e3 * t:.1f}' for t in results[form]['rounds'])})", flush=True)
    publish(markdown(results, "python experiments/bench_flat_params.py " + " ".join(sys.argv[1:])), FLAGS.out)


if __name__ == "__main__":
    app.run(main)
