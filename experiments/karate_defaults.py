r"""Which GraphLayer defaults train on the karate club like jraph's GCN (docs/graph_defaults.md).

The setting of experiments/examples/jraph_karate.py (two labelled members,
one-hot node ids, Adam 1e-2, 100 steps, accuracy on all 34), two GraphLayers
with the layer's options below, measured over seeds; jraph's GCN beside them.
A variant changes one thing:

* layer default: self edges and parametrization='gcn' (GraphLayer's defaults);
  the others start from the 'standard' parametrization without self edges;
* self_edges: the GCN's D^{-1/2} (A + I) D^{-1/2} instead of D^{-1/2} A D^{-1/2}
  (``self_edges=True``);
* self_init=s: the self operators B1, B3 (which act on a node's own features)
  start at s times the default init (s = 0: they start at zero);
* self_rate=c: B1, B3 enter as c V_l, V_l the trained coefficients with the
  same initial W_l = c V_l (under Adam c scales their step by c);
* tie: W1 = W2 + c1 V1 (the self edge's message shares the neighbours' weights);
* others rate 0.1: B1, B3, B4, B5 enter as 0.1 V_l;
* no bias: use_bias=False, as the GCN;
* only_messages: W1 = W3 = W4 = W5 = 0 held fixed (a reference, not a layer);
  with self edges and tie it is the GCN (with a bias).

    python experiments/karate_defaults.py --seeds=0,1,2,3,4,5,6,7
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples"))
import jraph_karate as karate  # noqa: E402

from symjax import functional, layers  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("seeds", [str(s) for s in range(8)], "Initialisation seeds.")
flags.DEFINE_list("variants", None, "Variants to run (default: all).")

SELF_OPS = (0, 2)  # B1 and B3

VARIANTS = {
    "gcn (jraph)": None,
    "layer default": dict(layer_defaults=True),
    "standard (old default)": dict(),
    "self_edges": dict(self_edges=True),
    "self_init=0": dict(self_init=0.0),
    "self_init=0.1": dict(self_init=0.1),
    "self_rate=0.1": dict(self_rate=0.1),
    "self_edges + self_init=0": dict(self_edges=True, self_init=0.0),
    "self_edges + self_rate=0.1": dict(self_edges=True, self_rate=0.1),
    "only_messages": dict(only_messages=True),
    "only_messages + self_edges + tie (GCN)": dict(only_messages=True, self_edges=True, tie=True, self_init=0.0),
    "self_edges + tie": dict(self_edges=True, tie=True, self_init=0.0),
    "self_edges + tie + others rate 0.1": dict(self_edges=True, tie=True, self_init=0.0,
                                             rates={0: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}),
    "others rate 0.1": dict(rates={0: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}),
    "self_rate=0.03": dict(self_rate=0.03),
    "self_rate=0.1 + no bias": dict(self_rate=0.1, use_bias=False),
    "no bias": dict(use_bias=False),
    "layer default + others init 0": dict(layer_defaults=True, others_init=0.0),
}


def variant_network(layer_defaults=False, others_init=1.0, self_edges=False, self_init=1.0, self_rate=1.0, only_messages=False, rates=None,
                    tie=False, use_bias=True):
    """(specs, apply, init) of two GraphLayers changed as the module docstring says."""
    kw = {} if layer_defaults else dict(self_edges=self_edges, parametrization="standard")
    specs = {"g0": layers.GraphLayer(karate.N_MEMBERS, karate.HIDDEN, use_bias=use_bias, **kw),
             "g1": layers.GraphLayer(karate.HIDDEN, 2, use_bias=use_bias, **kw)}
    rate = np.ones(5)
    rate[list(SELF_OPS)] = self_rate
    for op, r in (rates or {}).items():
        rate[op] = r
    keep = np.zeros(5) if only_messages else np.ones(5)
    if only_messages:
        keep[1] = 1.0
        keep[0] = 1.0 if tie else 0.0

    def effective(p):
        w = p["W"] * jnp.asarray(rate * keep)[:, None, None]
        if tie:  # W1 = W2 + c1 V1: the self edge's message shares the neighbours' weights
            w = w.at[0].add(p["W"][1])
        return {**p, "W": w}

    def apply(params, graph):
        h = jax.nn.relu(specs["g0"].apply(effective(params["g0"]), graph))
        return specs["g1"].apply(effective(params["g1"]), graph._replace(nodes=h))

    def init(key):
        params = {}
        for i, (name, spec) in enumerate(specs.items()):
            p = functional.init(jax.random.fold_in(key, i), spec)
            scale = np.ones(5)
            scale[list(SELF_OPS)] = self_init / self_rate
            if layer_defaults:
                scale = np.full(5, others_init)
                scale[1] = 1.0
            params[name] = {**p, "W": p["W"] * jnp.asarray(scale)[:, None, None]}
        return params

    return specs, apply, init


def gcn_network():
    specs, apply = karate.gcn_network()
    return specs, apply, lambda key: {n: functional.init(jax.random.fold_in(key, i), s)
                                      for i, (n, s) in enumerate(specs.items())}


def accuracy(network, seed: int, num_steps: int = 100) -> float:
    """Accuracy on the 34 members after training as jraph_karate.optimize_club does (one jitted scan)."""
    _, apply, init = network
    club = karate.get_zacharys_karate_club()
    labels = jnp.asarray(karate.LABELS)
    opt = optax.adam(1e-2)

    def loss(params):
        log_prob = jax.nn.log_softmax(apply(params, club))
        return -(log_prob[0, 0] + log_prob[33, 1])

    @jax.jit
    def train(params):
        def step(carry, _):
            params, state = carry
            updates, state = opt.update(jax.grad(loss)(params), state)
            return (optax.apply_updates(params, updates), state), None
        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=num_steps)
        return jnp.mean(jnp.argmax(apply(params, club), axis=1) == labels)

    return float(train(init(jax.random.key(seed))))


def main(argv):
    del argv
    seeds = [int(s) for s in FLAGS.seeds]
    names = FLAGS.variants or list(VARIANTS)
    print(f"| variant | mean | min | {' | '.join(f'seed {s}' for s in seeds)} |")
    print("|---|---|---|" + "---|" * len(seeds))
    for name in names:
        options = VARIANTS[name]
        network = gcn_network() if options is None else variant_network(**options)
        accs = [accuracy(network, s) for s in seeds]
        print(f"| {name} | {np.mean(accs):.3f} | {np.min(accs):.3f} | "
              + " | ".join(f"{a:.2f}" for a in accs) + " |", flush=True)


if __name__ == "__main__":
    app.run(main)
