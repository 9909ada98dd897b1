"""Task 2: graph classification on NCI1 (study ch. 3 §4, ch. 4 §3, Tables 3 and 6, Figures 6-7).

Data. NCI1 (4110 molecules, 2 classes, 37 one-hot atom types). The dense
models (vanilla, shared, with or without augmentation) use the graphs with at
most ``max_nodes`` nodes (default 50, as in the study: 3802 graphs, 308
dropped), padded to max_nodes slots: A (N, M, M), X (N, M, 37), mask (N, M).
``shared_sparse`` uses padded jraph storage (``pad_sparse_graphs``) of all
4110 graphs (up to 111 nodes, 238 directed edges).

A data size above the graphs the models can use is refused (no silent clamp):
at most K for the dense models, or 4110 (all graphs).

Data sizes (Table 3: 500, 1500, 4110; 4110 is the study's label for "all
graphs"). For seed s, the graphs with at most max_nodes nodes are shuffled by
``numpy.random.default_rng(s)``; data size D takes the first min(D, K) of them
(K = number of kept graphs, so 4110 means all K) and splits them 8:1:1:

    n_val = n_test = D // 10,  n_train = D - 2 (D // 10)      (train, val, test in that order)

shared_sparse lanes use exactly the same graphs as the dense lanes for
D < K (so shared and shared_sparse then differ only in the representation),
and for D >= K all 4110 graphs, shuffled by ``default_rng([s, 1])`` and split
the same way: this is the one condition where it sees graphs the node cap
excludes.

Batch size: the study says only that it grew with the data size and gives no
numbers for task 2; ``batch_size`` (default 32) is used for every lane.

Training (study ch. 3 §1): cross-entropy, Adam 1e-3, at most 250 epochs,
early stopping with patience 15 on the validation loss; the test metrics use
the best-validation parameters.

Augmentation (vanilla_aug, vanilla_flat_aug, shared_aug): every training
example of every batch gets its own uniform permutation P of all max_nodes
slots (``--augment_per=batch``: one P per batch, the study's), applied jointly:
(A, X, mask) -> (P A P^T, P X, P mask).

Departures from the study's text (``DEPARTURES``; ``--settings=study`` sets
the study's values): global operators mean vs the study's sums, one
permutation per example vs per batch, the per-node-slot vanilla vs the flat
4350-input reading (``vanilla_flat``), the batch size (not given), the node
cap (``--max_nodes=all``: the all-graphs reading of the 4110 condition).

Symmetry error (eq. 8, "logit MSE under permutation"): mean over test
examples and ``sym_samples`` uniform P of mean_c (f(x)_c - f(P . x)_c)^2.
Dense models: P permutes all max_nodes slots (``GraphAction``; output action
trivial). shared_sparse: P renumbers the real nodes of each graph
(``permute_sparse_example``); padding slots have no meaning there.

One sweep per (hidden setting, architecture), named 'h<hidden>_<architecture>':
vanilla + vanilla_aug lanes together, shared + shared_aug together,
shared_sparse alone, each over all data sizes and seeds. Everything else
(flags, resume, results after every sweep, progress, report) is the driver's
(``symjax.tasks.driver``).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from symjax.data import graph_batching, tu
from symjax.layers.graph import GLOBAL_AGGREGATIONS
from symjax.models import graph_models as gm
from symjax.tasks import driver
from symjax.tasks.departures import Departure
from symjax.tasks.driver import option

NUMBER = 2
#: Every variant; the default --models leaves out the flat reading of the study's vanilla.
MODELS = ("vanilla", "vanilla_aug", "vanilla_flat", "vanilla_flat_aug", "shared", "shared_aug", "shared_sparse")
DEFAULT_MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug", "shared_sparse")
ARCHITECTURES = ("vanilla", "vanilla_flat", "shared", "shared_sparse")
ALL_NODES = "all"  # --max_nodes=all: every graph, padded to the largest (tu.node_cap)
ALL_LABEL = 4110  # the study's label for "all graphs"
MIN_DATA_SIZE = 10  # smallest size with a non-empty 8:1:1 split


@dataclasses.dataclass(frozen=True)
class Options(driver.CommonOptions):
    """Task 2's options; the defaults are the study's grid (Table 3) and settings."""

    MODELS = MODELS

    hidden: tuple = option((3, 5, 7), "Hidden settings of Table 3 (3, 5, 7).")
    data_sizes: tuple = option((500, 1500, ALL_LABEL), f"Data sizes before the 8:1:1 split; {ALL_LABEL} = all graphs.")
    models: tuple = option(DEFAULT_MODELS, "Model variants to train: vanilla = per-node-slot MLP on the 87-number "
                           "rows [A_i, X_i]; vanilla_flat = the study's sentence read literally (ch. 4 §3: the 50 x 50 "
                           "adjacency and 50 x 37 features flattened to 4350 inputs); '_aug' adds augmentation.")
    max_nodes: str = option("50", "Dense models keep graphs with at most this many nodes: the study's text says 50 "
                            "(ch. 4 §3); 'all' keeps every graph, padded to the largest (111 for NCI1), the reading "
                            "of its 4110 condition (accuracies in multiples of 1/411: all 4110 graphs).")
    data_dir: str | None = option(None, "Folder with the NCI1 files (default: search, then download).")
    batch_size: int = option(32, "Batch size of every lane. The study varies it with the data size without giving "
                             "values (ch. 4 §3); the project fixes 32.")
    max_epochs: int = option(250, "Maximum epochs per lane.")
    patience: int = option(15, "Early-stopping patience in epochs.")
    eval_batch_size: int = option(256, "Test/validation examples per evaluation chunk (bounds memory).")
    aggregation: str = option("mean", "Node pooling of the shared models.", gm.AGGREGATIONS)
    global_aggregation: str = option(
        "mean", "Global operators B4, B5 of the graph layers: 'sum' is eq. 16-17 as printed; 'mean' divides them by "
        "the node count (still exactly equivariant, same parameters). With sums the activations grow with the edge "
        "count at every layer (hidden setting 7: logits of std ~1e7 at initialisation, float32 breaks invariance), "
        "so 'mean' is the default.", GLOBAL_AGGREGATIONS)
    out_dir: str = option("runs/task2", "Output folder (results, report, figures, checkpoints).")

    def validate(self) -> None:
        super().validate()
        driver.check_ints("hidden", self.hidden, low=1, allowed=gm.HIDDEN)
        driver.check_ints("data_sizes", self.data_sizes, low=MIN_DATA_SIZE)
        node_limit(self.max_nodes)
        driver.check_int("batch_size", self.batch_size, low=1)
        if self.aggregation not in gm.AGGREGATIONS:
            raise ValueError(f"--aggregation: expected one of {gm.AGGREGATIONS}, got {self.aggregation!r}")
        if self.global_aggregation not in GLOBAL_AGGREGATIONS:
            raise ValueError(f"--global_aggregation: expected one of {GLOBAL_AGGREGATIONS}, "
                             f"got {self.global_aggregation!r}")


#: --quick (CI): one tiny sweep per architecture, a few epochs. float64, so the shared models' symmetry
#: error sits at rounding level (~1e-20) rather than float32's ~1e-8.
QUICK = dict(hidden=(3,), data_sizes=(200,), seeds=(0,), max_epochs=5, batch_size=16, checkpoint_every=1,
             sym_samples=2, x64=True)

#: Where the project departs from the study's text (``symjax.report.departures``); --settings=study restores them.
DEPARTURES = (
    Departure("global_aggregation", "global operators B4, B5 of the graph layers", "sums over nodes (eq. 16-17)",
              "sum"),
    Departure("augment_per", "augmentation draw", "one random permutation per batch (ch. 4 §1)", "batch"),
    Departure("models", "vanilla model", "'50 x 50 adjacency and 50 x 37 features flattened to a 4350-dimensional "
              "input' (ch. 4 §3): vanilla_flat; the project's vanilla is a per-node-slot MLP",
              MODELS),
    Departure("batch_size", "batch size", "grows with the data size, values not given (ch. 4 §3)"),
    Departure("max_nodes", "node cap / the 4110 condition", "graphs with at most 50 nodes (ch. 4 §3), but the 4110 "
              "condition's accuracies are multiples of 1/411 (all graphs: --max_nodes=all)"),
)


def node_limit(max_nodes, largest: int | None = None) -> int | None:
    """--max_nodes as an int: a positive integer (int or digits), or 'all' -> ``largest`` (None if not given).

    Raises ValueError naming --max_nodes for anything else.
    """
    if isinstance(max_nodes, str) and max_nodes.strip().lower() == ALL_NODES:
        return largest
    text = str(max_nodes).strip()
    if isinstance(max_nodes, bool) or not text.isdigit() or int(text) < 1:
        raise ValueError(f"--max_nodes: expected an integer >= 1 or '{ALL_NODES}', got {max_nodes!r}")
    return int(text)


# ---------------------------------------------------------------------------
# Splits, sweeps and lanes
# ---------------------------------------------------------------------------


def split_sizes(count: int) -> tuple[int, int, int]:
    """8:1:1 of ``count`` graphs: (n_train, n_val, n_test) with n_val = n_test = count // 10."""
    if count < MIN_DATA_SIZE:
        raise ValueError(f"a data size needs at least {MIN_DATA_SIZE} graphs for an 8:1:1 split; got {count}")
    held = count // 10
    return count - 2 * held, held, held


def split_ids(order: np.ndarray, data_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First min(data_size, len(order)) ids of a shuffled ``order``, split 8:1:1 -> (train, val, test)."""
    chosen = order[: min(int(data_size), order.size)]
    n_train, n_val, _ = split_sizes(chosen.size)
    return chosen[:n_train], chosen[n_train:n_train + n_val], chosen[n_train + n_val:]


def plan_sweeps(opts: Options) -> list[driver.SweepPlan]:
    """Sweeps in run order: per hidden setting, vanilla, vanilla_flat, shared, shared_sparse (those asked for)."""
    plans = []
    for hidden in opts.hidden:
        for arch in ARCHITECTURES:
            variants = tuple(m for m in MODELS if m in opts.models and m.removesuffix("_aug") == arch)
            if variants:
                plans.append(driver.SweepPlan(f"h{hidden}_{arch}", int(hidden), arch, variants,
                                              pool="sparse" if arch == "shared_sparse" else "dense"))
    return plans


def load_data(opts: Options) -> dict:
    """NCI1 and the ids of its graphs with <= max_nodes nodes; refuses data sizes above what the models can use.

    Returns {'ds': TUDataset, 'kept': int64 (K,) graph ids, 'dropped': int, 'max_nodes': int (the node cap M,
    the largest graph's node count with --max_nodes=all)}.
    """
    try:
        ds = tu.load_tu_dataset(tu.find_dataset_dir("NCI1", opts.data_dir))
    except tu.DatasetNotFoundError as error:
        raise ValueError(f"--data_dir: {error}") from None
    cap = tu.node_cap(ds, node_limit(opts.max_nodes))
    kept, dropped = tu.select_by_size(ds, cap)
    if kept.size < MIN_DATA_SIZE:
        raise ValueError(f"--max_nodes={opts.max_nodes}: keeps {kept.size} graphs, expected at least {MIN_DATA_SIZE}")
    dense = any(m != "shared_sparse" for m in opts.models)
    for size in opts.data_sizes:
        if size > ds.num_graphs or (dense and kept.size < size < ds.num_graphs):
            raise ValueError(f"--data_sizes: {size} is more than the graphs there are: {kept.size} with <= "
                             f"{opts.max_nodes} nodes for the dense models, {ds.num_graphs} in all; use at most "
                             f"{kept.size if dense else ds.num_graphs}, or {ds.num_graphs} for all graphs")
    return {"ds": ds, "kept": kept, "dropped": int(dropped), "max_nodes": cap}


def build_pool(opts: Options, plan: driver.SweepPlan, data: dict):
    """Dense: (A (K, M, M), X (K, M, 37), mask (K, M)) of the kept graphs; sparse: all graphs padded
    (``graph_batching.pad_sparse_graphs``). Labels int32; arrays in the run's precision."""
    ds, kept = data["ds"], data["kept"]
    dtype = np.float64 if opts.x64 else np.float32
    labels = ds.graph_labels.astype(np.int32)
    if plan.pool == "sparse":
        pool = graph_batching.pad_sparse_graphs(ds, np.arange(ds.num_graphs))
        pool["node_mask"] = pool["node_mask"].astype(dtype)
        pool["edge_mask"] = pool["edge_mask"].astype(dtype)
        return pool, labels
    a, x, mask = tu.dense_batch(ds, kept, data["max_nodes"])
    return (a.astype(dtype), x.astype(dtype), mask.astype(dtype)), labels[kept]


def build_lanes(opts: Options, plan: driver.SweepPlan, data: dict, pool=None) -> list:
    """Lanes of one sweep (data sizes x seeds x variants); indices into the sweep's pool.

    Dense pools hold the kept graphs in increasing id order (pool index = position
    in ``kept``); the sparse pool holds all graphs (pool index = graph id).
    """
    from symjax.train import Lane  # noqa: PLC0415

    kept, num_graphs = data["kept"], data["ds"].num_graphs
    position = np.full(num_graphs, -1, np.int64)
    position[kept] = np.arange(kept.size)
    lanes = []
    for data_size in opts.data_sizes:
        for seed in opts.seeds:
            kept_order = np.random.default_rng(seed).permutation(kept)
            if plan.architecture == "shared_sparse" and data_size >= kept.size:
                parts = split_ids(np.random.default_rng([seed, 1]).permutation(num_graphs), data_size)
            else:
                parts = split_ids(kept_order, data_size)
                if plan.architecture != "shared_sparse":
                    parts = tuple(position[p] for p in parts)
            for variant in plan.variants:
                lanes.append(Lane(
                    seed=int(seed), train_idx=parts[0], val_idx=parts[1], test_idx=parts[2],
                    batch_size=int(opts.batch_size), augment=variant.endswith("_aug"),
                    meta=dict(task=NUMBER, model=variant, setting=int(plan.setting), data_size=int(data_size),
                              sweep=plan.name, graphs=int(sum(p.size for p in parts)))))
    return lanes


# ---------------------------------------------------------------------------
# Models and metric functions
# ---------------------------------------------------------------------------


def sparse_symmetry_error_fn(model: gm.SparseSharedGraphModel):
    """fn(params, key, x) -> mean_c (f(x)_c - f(pi . x)_c)^2, pi renumbering each graph's real nodes."""

    def fn(params, key, x):
        diff = model.apply(params, x) - model.apply(params, graph_batching.permute_sparse_example(key, x))
        return jnp.mean(jnp.square(diff))

    return fn


def lane_fns(opts: Options, plan: driver.SweepPlan, data: dict):
    """The sweep's model, node-slot permutation augmentation and eq. 8 ("logit MSE under permutation").

    The engine accumulates losses and metrics in float32, so with float64
    params and data (x64) the model runs in float64 and hands its logits to the
    engine as float32; the symmetry error is computed from the float64 logits
    and only its value is cast (a no-op in float32 runs).
    """
    from symjax import actions, groups  # noqa: PLC0415
    from symjax.tasks import common  # noqa: PLC0415
    from symjax.train import LaneFns  # noqa: PLC0415

    model = gm.graph_model(plan.architecture, plan.setting, data["max_nodes"], opts.aggregation,
                           opts.global_aggregation)
    dtype = jnp.float64 if opts.x64 else jnp.float32
    if plan.architecture == "shared_sparse":
        sym_fn, augment = sparse_symmetry_error_fn(model), None
    else:
        s_n = groups.symmetric(data["max_nodes"])
        graph_action = actions.GraphAction(s_n)
        augment = common.augmentation(graph_action) if any(v.endswith("_aug") for v in plan.variants) else None
        sym_fn = common.symmetry_error_fn(model.apply, graph_action, actions.trivial(s_n, gm.NUM_CLASSES))
    return LaneFns(init=lambda key: model.init(key, dtype),
                          apply=lambda params, x: model.apply(params, x).astype(jnp.float32), augment=augment,
                          symmetry_error=lambda params, key, x: sym_fn(params, key, x).astype(jnp.float32))


def notes(opts: Options, data: dict) -> list[str]:
    """Task 2's lines of the report's run section."""
    kept, num_graphs = data["kept"].size, data["ds"].num_graphs
    rounding = ("With the global sums B4, B5 of eq. 16-17 the activations grow with the number of edges layer after "
                "layer, so float32 rounding of two summation orders gives MSEs far above float64's 1e-15 "
                "(--global_aggregation=mean or --x64 avoid it)." if opts.global_aggregation == "sum" and not opts.x64
                else "Averaging B4, B5 over nodes keeps activations of the order of the node degree."
                if opts.global_aggregation == "mean" else "Computed in float64 (--x64).")
    return [
        f"Data: NCI1, {num_graphs} graphs; {kept} have <= {data['max_nodes']} nodes and are used by the dense models "
        f"({data['dropped']} dropped). Data size {ALL_LABEL} stands for all graphs: {kept} for the dense models, all "
        f"{num_graphs} for shared_sparse. Split 8:1:1 (val = test = size // 10), a new random split per seed.",
        f"Batch size {opts.batch_size} for every lane (the study gives none for task 2); Adam, cross-entropy; "
        f"{opts.aggregation} pooling; global operators B4, B5 of the graph layers: {opts.global_aggregation} over "
        f"nodes; symmetry error with {opts.sym_samples} permutations per test graph.",
        "Models: shared = equivariant graph layers (eq. 13-18) + masked mean pooling + 2-layer classifier; vanilla = "
        "ordinary MLP on each node slot's row [A_i, X_i] + attention pooling + the same classifier; vanilla_flat = "
        "ordinary MLP on the flattened padded A and X (the study's 4350 inputs at 50 nodes); shared_sparse = "
        "the shared model on jraph graphs (segment sums), no node cap.",
        "The shared models' symmetry error is pure rounding: they are exactly invariant in exact arithmetic. "
        + rounding,
    ]


class GraphTask(driver.Task):
    """Task 2 for the driver; its methods are this module's functions."""

    name, number, script, options, quick = "task2", NUMBER, "experiments/task2.py", Options, QUICK
    loss = "cross_entropy"
    plan_fields = ("hidden", "models")
    labels = {"hidden": "hidden settings", "data_sizes": "data sizes"}
    departures = DEPARTURES
    # Epochs of the dense vanilla model run 23 % faster with the emitters (the shared ones 15 % slower;
    # docs/benchmarks.md, "Nothing slower on long runs").
    cpu_fusion_emitters = ("vanilla",)
    plan_sweeps = staticmethod(plan_sweeps)
    load_data = staticmethod(load_data)
    build_pool = staticmethod(build_pool)
    build_lanes = staticmethod(build_lanes)
    lane_fns = staticmethod(lane_fns)
    notes = staticmethod(notes)


TASK = GraphTask()



def run(opts: Options | None = None, *, command: str | None = None, **changes) -> list[dict]:
    """Task 2 through the driver: ``run(Options(hidden=(3,), ...))`` or ``run(hidden=(3,), ...)``."""
    opts = dataclasses.replace(opts or Options(), **changes)
    return driver.run(TASK, opts, command=command)
