r"""Zachary's karate club with symjax's GraphLayer beside jraph's GCN.

The setting of jraph's examples/zacharys_karate_club.py: 34 club members,
78 friendships (both directions stored), one-hot node features, and only two
labelled nodes (Mr. Hi, node 0, and John A, node 33). A two-layer network
assigns every member to one of the two instructors; accuracy is measured on
all 34 ground-truth assignments.

* gcn:   jraph.GraphConvolution (self edges, symmetric normalisation) x 2,
         as in the jraph example;
* graph: symjax.layers.GraphLayer x 2 with its defaults (messages sender ->
         receiver, self edges and D^{-1/2} (A + I) D^{-1/2} edge weights as the
         GCN, 'mean' global operators, parametrization='gcn': the GCN's
         aggregation plus the four other operators at a tenth of its scale).

Both are equivariant to relabelling the members; the script measures it with
``metrics.symmetry_error`` and ``actions.GraphsTupleAction``. With 100 steps,
over seeds 0-7 the GCN reaches accuracy 0.97 at every seed, GraphLayer 0.95
on average (0.94-0.97); see docs/graph_defaults.md and
experiments/karate_defaults.py for the defaults that fail (0.76 on average).

    python experiments/examples/jraph_karate.py --num_steps=100
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph
import optax
from absl import app, flags

from symjax import actions, functional, groups, layers, metrics

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_steps", 100, "Adam steps.")
flags.DEFINE_integer("seed", 42, "Initialisation seed.")

SOCIAL_GRAPH = [
    (1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 0), (5, 0), (6, 0), (6, 4), (6, 5), (7, 0), (7, 1),
    (7, 2), (7, 3), (8, 0), (8, 2), (9, 2), (10, 0), (10, 4), (10, 5), (11, 0), (12, 0), (12, 3), (13, 0),
    (13, 1), (13, 2), (13, 3), (16, 5), (16, 6), (17, 0), (17, 1), (19, 0), (19, 1), (21, 0), (21, 1),
    (25, 23), (25, 24), (27, 2), (27, 23), (27, 24), (28, 2), (29, 23), (29, 26), (30, 1), (30, 8), (31, 0),
    (31, 24), (31, 25), (31, 28), (32, 2), (32, 8), (32, 14), (32, 15), (32, 18), (32, 20), (32, 22),
    (32, 23), (32, 29), (32, 30), (32, 31), (33, 8), (33, 9), (33, 13), (33, 14), (33, 15), (33, 18),
    (33, 19), (33, 20), (33, 22), (33, 23), (33, 26), (33, 27), (33, 28), (33, 29), (33, 30), (33, 31),
    (33, 32)]
LABELS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
N_MEMBERS = 34
HIDDEN = 5


def get_zacharys_karate_club() -> jraph.GraphsTuple:
    """The club as a GraphsTuple (edges in both directions, one-hot nodes), as in the jraph example."""
    edges = SOCIAL_GRAPH + [(r, s) for s, r in SOCIAL_GRAPH]
    return jraph.GraphsTuple(n_node=jnp.asarray([N_MEMBERS]), n_edge=jnp.asarray([len(edges)]),
                             nodes=jnp.eye(N_MEMBERS), edges=None, globals=None,
                             senders=jnp.asarray([e[0] for e in edges]), receivers=jnp.asarray([e[1] for e in edges]))


def gcn_network():
    """Kipf and Welling's GCN, Z = A' relu(A' X W_0) W_1, through jraph.GraphConvolution."""
    specs = {"w0": functional.Dense(N_MEMBERS, HIDDEN, use_bias=False), "w1": functional.Dense(HIDDEN, 2, use_bias=False)}

    def apply(params, graph):
        conv = jraph.GraphConvolution(lambda n: specs["w0"].apply(params["w0"], n), add_self_edges=True)
        graph = conv(graph)
        graph = graph._replace(nodes=jax.nn.relu(graph.nodes))
        return jraph.GraphConvolution(lambda n: specs["w1"].apply(params["w1"], n))(graph).nodes

    return specs, apply


def graph_layer_network():
    """Two symjax GraphLayers with their defaults, Y = GraphLayer(relu(GraphLayer(X)))."""
    specs = {"g0": layers.GraphLayer(N_MEMBERS, HIDDEN), "g1": layers.GraphLayer(HIDDEN, 2)}

    def apply(params, graph):
        h = jax.nn.relu(specs["g0"].apply(params["g0"], graph))
        return specs["g1"].apply(params["g1"], graph._replace(nodes=h))

    return specs, apply


def optimize_club(network, num_steps: int, seed: int = 42) -> dict:
    """Trains on the two labelled members; returns accuracy on all 34 and the equivariance error."""
    specs, apply = network
    club = get_zacharys_karate_club()
    labels = jnp.asarray(LABELS)
    key = jax.random.key(seed)
    params = {name: functional.init(jax.random.fold_in(key, i), spec) for i, (name, spec) in enumerate(specs.items())}

    def prediction_loss(params):
        log_prob = jax.nn.log_softmax(apply(params, club))
        return -(log_prob[0, 0] + log_prob[33, 1])  # only Mr. Hi and John A are labelled

    opt = optax.adam(1e-2)
    opt_state = opt.init(params)

    @jax.jit
    def update(params, opt_state):
        grads = jax.grad(prediction_loss)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    for _ in range(num_steps):
        params, opt_state = update(params, opt_state)
    s_n = groups.symmetric(N_MEMBERS)

    @jax.jit
    def evaluate(params):  # one compiled program: run eagerly, every operation would compile on its own
        accuracy = jnp.mean(jnp.argmax(apply(params, club), axis=1) == labels)
        error = metrics.symmetry_error(lambda g: apply(params, g), club, actions.GraphsTupleAction(s_n),
                                       actions.points(s_n), seed)
        return accuracy, error, prediction_loss(params)

    accuracy, error, loss = evaluate(params)
    return {"accuracy": float(accuracy), "equivariance_error": float(error), "loss": float(loss)}


def main(argv):
    del argv
    for name, network in (("gcn", gcn_network()), ("graph_layer", graph_layer_network())):
        result = optimize_club(network, FLAGS.num_steps, FLAGS.seed)
        print(f"{name:12s} accuracy {result['accuracy']:.3f}  loss {result['loss']:.4f}  "
              f"equivariance error {result['equivariance_error']:.2e}")


if __name__ == "__main__":
    app.run(main)
