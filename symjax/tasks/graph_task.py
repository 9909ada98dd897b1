"""Task 2: graph classification on NCI1 (study ch. 3 §4, ch. 4 §3, Tables 3 and 6, Figures 6-7).

Data. NCI1 (4110 molecules, 2 classes, 37 one-hot atom types). The dense
models (vanilla, shared, with or without augmentation) use the graphs with at
most ``max_nodes`` nodes (default 50, as in the study: 3802 graphs, 308
dropped), padded to max_nodes slots: A (N, M, M), X (N, M, 37), mask (N, M).
``shared_sparse`` uses padded jraph storage (``pad_sparse_graphs``) of all
4110 graphs (up to 111 nodes, 238 directed edges).

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

Augmentation (vanilla_aug, shared_aug): every training example of every batch
gets its own uniform permutation P of all max_nodes slots, applied jointly:
(A, X, mask) -> (P A P^T, P X, P mask).

Symmetry error (eq. 8, "logit MSE under permutation"): mean over test
examples and ``sym_samples`` uniform P of mean_c (f(x)_c - f(P . x)_c)^2.
Dense models: P permutes all max_nodes slots (``GraphAction``; output action
trivial). shared_sparse: P renumbers the real nodes of each graph
(``permute_sparse_example``); padding slots have no meaning there.

One ``sweep`` call per (hidden setting, architecture): vanilla + vanilla_aug
lanes together, shared + shared_aug together, shared_sparse alone, each over
all data sizes and seeds. results.csv/jsonl are rewritten after every sweep
call, and report.md with figures (``symjax.report.write_report``) at the end.

Resume: ``plan.json`` records the settings that change results; with
``resume=True`` sweeps whose rows are already in results.jsonl are kept
as they are, and an unfinished sweep continues from its newest checkpoint
(``checkpoints/<sweep>``); different settings are refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from symjax import actions, groups
from symjax.data import tu
from symjax.io import atomic_write_json
from symjax.layers.graph import GLOBAL_AGGREGATIONS
from symjax.models import graph_models as gm
from symjax.tasks import common

TASK = 2
MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug", "shared_sparse")
ARCHITECTURE = {"vanilla": "vanilla", "vanilla_aug": "vanilla", "shared": "shared", "shared_aug": "shared",
                "shared_sparse": "shared_sparse"}
ALL_LABEL = 4110  # the study's label for "all graphs"
MIN_DATA_SIZE = 10  # smallest size with a non-empty 8:1:1 split
INTERRUPTED_EXIT = 75  # exit status after stop_after_epochs (a simulated interruption)

#: The --quick grid (CI): one tiny sweep per architecture, a few epochs.
#: float64, so the shared models' symmetry error sits at rounding level (~1e-20) rather than float32's ~1e-8.
QUICK = dict(hidden=(3,), data_sizes=(200,), seeds=(0,), max_epochs=5, batch_size=16, checkpoint_every=1,
             sym_samples=2, x64=True)

#: Settings a resumed run must share with the run it continues (plan.json).
PLAN_KEYS = ("hidden", "data_sizes", "models", "seeds", "max_nodes", "batch_size", "max_epochs", "patience",
             "early_stopping", "lr", "sym_samples", "x64", "aggregation", "global_aggregation", "dataset_dir")


class Interrupted(RuntimeError):
    """Raised after ``stop_after_epochs`` epochs (simulates a killed run; see ``run``)."""


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything ``run`` needs; the defaults are the study's grid (Table 3) and settings."""

    hidden: tuple = (3, 5, 7)
    data_sizes: tuple = (500, 1500, ALL_LABEL)
    models: tuple = MODELS
    seeds: tuple = (0, 1, 2)
    max_nodes: int = 50
    data_dir: str | None = None
    batch_size: int = 32
    max_epochs: int = 250
    patience: int = 15
    early_stopping: bool = True
    lr: float = 1e-3
    out_dir: str = "runs/task2"
    resume: bool = False
    checkpoint_every: int = 10
    sym_samples: int = 5
    x64: bool = False
    quiet: bool = False
    eval_batch_size: int = 256
    aggregation: str = "mean"
    global_aggregation: str = "mean"
    stop_after_epochs: int = 0
    lane_groups: str = "shape"


def validate_options(opts: Options) -> None:
    """Raises ValueError naming the flag (--name) for a setting that cannot run; compiles nothing."""
    bad_hidden = [h for h in opts.hidden if h not in gm.HIDDEN]
    if not opts.hidden or bad_hidden:
        raise ValueError(f"--hidden must be a comma list from {sorted(gm.HIDDEN)}; got {list(opts.hidden)}")
    if not opts.data_sizes or any(int(d) < MIN_DATA_SIZE for d in opts.data_sizes):
        raise ValueError(f"--data_sizes must be integers >= {MIN_DATA_SIZE} (8:1:1 split; {ALL_LABEL} = all "
                         f"graphs); got {list(opts.data_sizes)}")
    common.parse_models(list(opts.models), MODELS)
    if not opts.seeds or any(int(s) < 0 for s in opts.seeds):
        raise ValueError(f"--seeds must give non-negative seeds; got {list(opts.seeds)}")
    positive = {"max_nodes": opts.max_nodes, "batch_size": opts.batch_size, "max_epochs": opts.max_epochs,
                "patience": opts.patience, "checkpoint_every": opts.checkpoint_every,
                "sym_samples": opts.sym_samples, "eval_batch_size": opts.eval_batch_size}
    for name, value in positive.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"--{name} must be an integer >= 1; got {value!r}")
    if not opts.lr > 0:
        raise ValueError(f"--lr must be > 0; got {opts.lr!r}")
    if opts.aggregation not in gm.AGGREGATIONS:
        raise ValueError(f"--aggregation must be one of {gm.AGGREGATIONS}; got {opts.aggregation!r}")
    if opts.global_aggregation not in GLOBAL_AGGREGATIONS:
        raise ValueError(f"--global_aggregation must be one of {GLOBAL_AGGREGATIONS}; "
                         f"got {opts.global_aggregation!r}")
    if opts.stop_after_epochs < 0:
        raise ValueError(f"--stop_after_epochs must be >= 0; got {opts.stop_after_epochs!r}")
    if not opts.out_dir:
        raise ValueError("--out_dir must be a directory path; got an empty value")


# ---------------------------------------------------------------------------
# Splits and lanes
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


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """One sweep call: an architecture at a hidden setting with its model variants."""

    name: str
    hidden: int
    architecture: str  # 'vanilla' | 'shared' | 'shared_sparse'
    variants: tuple  # model names, e.g. ('vanilla', 'vanilla_aug')


def plan_sweeps(opts: Options) -> list[SweepPlan]:
    """Sweeps in run order: per hidden setting, vanilla, shared, shared_sparse (those asked for)."""
    plans = []
    for hidden in opts.hidden:
        for arch in ("vanilla", "shared", "shared_sparse"):
            variants = tuple(m for m in MODELS if m in opts.models and ARCHITECTURE[m] == arch)
            if variants:
                plans.append(SweepPlan(f"h{hidden}_{arch}", hidden, arch, variants))
    return plans


def build_lanes(plan: SweepPlan, opts: Options, kept: np.ndarray, num_graphs: int) -> list:
    """Lanes of one sweep (data sizes x seeds x variants); indices into the sweep's pool.

    Dense pools hold the kept graphs in increasing id order (pool index = position
    in ``kept``); the sparse pool holds all graphs (pool index = graph id).
    """
    from symjax.train import Lane  # noqa: PLC0415 (keeps flag errors free of the engine import)

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
                    meta=dict(task=TASK, model=variant, setting=int(plan.hidden), data_size=int(data_size),
                              sweep=plan.name, graphs=int(sum(p.size for p in parts)))))
    return lanes


# ---------------------------------------------------------------------------
# Pools, models, metric functions
# ---------------------------------------------------------------------------


def dense_pool(ds, kept: np.ndarray, max_nodes: int, dtype) -> tuple:
    """(A (K, M, M), X (K, M, 37), mask (K, M)) of the kept graphs, in ``dtype``."""
    a, x, mask = tu.dense_batch(ds, kept, max_nodes)
    return a.astype(dtype), x.astype(dtype), mask.astype(dtype)


def sparse_pool(ds, dtype) -> dict:
    """``pad_sparse_graphs`` of all graphs; masks in ``dtype``."""
    pool = gm.pad_sparse_graphs(ds, np.arange(ds.num_graphs))
    pool["node_mask"] = pool["node_mask"].astype(dtype)
    pool["edge_mask"] = pool["edge_mask"].astype(dtype)
    return pool


def sparse_symmetry_error_fn(model: gm.SparseSharedGraphModel):
    """fn(params, key, x) -> mean_c (f(x)_c - f(pi . x)_c)^2, pi renumbering each graph's real nodes."""

    def fn(params, key, x):
        diff = model.apply(params, x) - model.apply(params, gm.permute_sparse_example(key, x))
        return jnp.mean(jnp.square(diff))

    return fn


def sweep_functions(plan: SweepPlan, opts: Options, dtype):
    """(model, init_fn, apply_fn, augment_fn, symmetry_error_fn) of one sweep.

    The engine accumulates losses and metrics in float32, so with float64
    params and data (x64) the model runs in float64 and hands its logits to the
    engine as float32; the symmetry error is computed from the float64 logits
    and only its value is cast (a no-op in float32 runs).
    """
    model = gm.graph_model(plan.architecture, plan.hidden, opts.max_nodes, opts.aggregation,
                           opts.global_aggregation)
    init_fn = lambda key: model.init(key, dtype)
    apply_fn = lambda params, x: model.apply(params, x).astype(jnp.float32)
    if plan.architecture == "shared_sparse":
        sym_fn = sparse_symmetry_error_fn(model)
        augment_fn = None
    else:
        s_n = groups.symmetric(opts.max_nodes)
        graph_action = actions.GraphAction(s_n)
        augment_fn = common.augmentation(graph_action) if any(v.endswith("_aug") for v in plan.variants) else None
        sym_fn = common.symmetry_error_fn(model.apply, graph_action, actions.trivial(s_n, gm.NUM_CLASSES))
    sym32 = lambda params, key, x: sym_fn(params, key, x).astype(jnp.float32)
    return model, init_fn, apply_fn, augment_fn, sym32


# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------


def _plan_record(opts: Options, dataset_dir: str) -> dict:
    record = {k: getattr(opts, k) for k in PLAN_KEYS if k != "dataset_dir"}
    record["dataset_dir"] = os.path.abspath(dataset_dir)
    return json.loads(json.dumps(record))


def _check_plan(out_dir: str, record: dict, resume: bool) -> None:
    """Writes plan.json; with resume, first refuses settings that differ from the saved plan."""
    path = os.path.join(out_dir, "plan.json")
    if resume and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        diffs = [f"{k}: saved {saved.get(k)!r}, now {record.get(k)!r}" for k in PLAN_KEYS
                 if saved.get(k) != record.get(k)]
        if diffs:
            raise ValueError(f"--resume: {out_dir} holds a run with other settings ({'; '.join(diffs)}); "
                             f"use those settings or another --out_dir")
    atomic_write_json(path, record, indent=1, sort_keys=True)


def _expected_keys(lanes) -> set:
    return {(l.meta["model"], l.meta["data_size"], l.seed) for l in lanes}


def _grid_notes(opts: Options, kept: int, dropped: int, num_graphs: int, wall_s: float | None, machine: str,
                command: str | None, rows: list[dict]) -> str:
    """extra_md for report.md: data, settings, what the run covers against the study's grid.

    wall_s None (a resumed run, or a report rewritten from results): the sum of the finished sweeps' wall
    times is given.
    """
    full = Options()
    cuts = []
    unfinished = [p.name for p in plan_sweeps(opts) if not any(r.get("sweep") == p.name for r in rows)]
    if unfinished:
        cuts.append(f"sweeps {', '.join(unfinished)} not finished (stopped for time), so their models are "
                    "missing from the tables")
    for name, label in (("hidden", "hidden settings"), ("data_sizes", "data sizes"), ("models", "models")):
        missing = [v for v in getattr(full, name) if v not in getattr(opts, name)]
        if missing:
            cuts.append(f"{label} {', '.join(map(str, missing))} not run")
    extra_sizes = [d for d in opts.data_sizes if d not in full.data_sizes]
    if extra_sizes:
        cuts.append(f"data sizes {', '.join(map(str, extra_sizes))} are not the study's")
    if len(opts.seeds) < len(full.seeds):
        cuts.append(f"{len(opts.seeds)} seed(s) instead of {len(full.seeds)}")
    for name in ("max_epochs", "patience", "max_nodes", "lr"):
        if getattr(opts, name) != getattr(full, name):
            cuts.append(f"{name} {getattr(opts, name)} instead of {getattr(full, name)}")
    if not opts.early_stopping:
        cuts.append("no early stopping")
    lines = [
        f"- Command: `{command}`" if command else "- Called from Python (symjax.tasks.graph_task.run).",
        f"- Machine: {machine}.",
        (f"- Wall time: {wall_s / 60:.1f} min for the whole run (all sweeps, compilation and evaluation)."
         if wall_s is not None else
         f"- Wall time: {sum({r['sweep']: r['wall_s'] for r in rows}.values()) / 60:.1f} min, the sum over the "
         "finished sweeps (each from its start to its evaluation, compilation included; a resumed sweep counts "
         "its earlier passes up to the checkpoint it resumed from)."),
        f"- Data: NCI1, {num_graphs} graphs; {kept} have <= {opts.max_nodes} nodes and are used by the dense "
        f"models ({dropped} dropped). Data size {ALL_LABEL} stands for all graphs: {kept} for the dense models, "
        f"all {num_graphs} for shared_sparse. Split 8:1:1 (val = test = size // 10), a new random split per seed.",
        f"- Batch size {opts.batch_size} for every lane (the study gives none for task 2); Adam lr {opts.lr}; "
        f"max {opts.max_epochs} epochs, patience {opts.patience}; {opts.aggregation} pooling; "
        f"global operators B4, B5 of the graph layers: {opts.global_aggregation} over nodes; "
        f"{'float64' if opts.x64 else 'float32'}; symmetry error with {opts.sym_samples} permutations per "
        "test graph.",
        "- Models: shared = equivariant graph layers (eq. 13-18) + masked mean pooling + 2-layer classifier; "
        "vanilla = ordinary MLP on each node slot's row [A_i, X_i] + attention pooling + the same classifier; "
        "shared_sparse = the shared model on jraph graphs (segment sums), no node cap.",
        "- The shared models' symmetry error is pure rounding: they are exactly invariant in exact arithmetic. "
        + ("With the global sums B4, B5 of eq. 16-17 the activations grow with the number of edges layer "
           "after layer, so float32 rounding of two summation orders gives MSEs far above float64's 1e-15 "
           "(--global_aggregation=mean or --x64 avoid it)." if opts.global_aggregation == "sum" and not opts.x64
           else "Averaging B4, B5 over nodes keeps activations of the order of the node degree."
           if opts.global_aggregation == "mean" else "Computed in float64 (--x64)."),
        "",
        "### Scope against the study's grid",
        "",
    ]
    if cuts:
        lines.append("This run is a reduced grid: " + "; ".join(cuts) + ".")
        lines.append("")
        lines.append("The full grid (hours on a CPU; run it on a GPU):")
        lines.append("")
        lines.append("    python experiments/task2.py --out_dir runs/task2_full")
    else:
        lines.append("This run covers the study's full Table 3 grid.")
    return "\n".join(lines) + "\n"


def run(opts: Options, flags_text: str | None = None, command: str | None = None, log=None) -> list[dict]:
    """Trains every sweep of ``opts``, writes results after each, then report.md; returns all rows.

    Raises ValueError (naming the flag) for bad options before anything is
    compiled, and ``Interrupted`` after ``opts.stop_after_epochs`` epochs.
    """
    validate_options(opts)
    log = log or (lambda text: print(text, flush=True))
    if opts.x64:
        jax.config.update("jax_enable_x64", True)
    from symjax.report import write_report  # noqa: PLC0415
    from symjax.train import LaneFns, TrainConfig, read_results, sweep, write_results  # noqa: PLC0415

    start = time.perf_counter()
    dtype = np.float64 if opts.x64 else np.float32
    dataset_dir = tu.find_dataset_dir("NCI1", opts.data_dir)
    ds = tu.load_tu_dataset(dataset_dir)
    kept, dropped = tu.select_by_size(ds, opts.max_nodes)
    if kept.size < MIN_DATA_SIZE:
        raise ValueError(f"--max_nodes={opts.max_nodes} keeps {kept.size} graphs; need at least {MIN_DATA_SIZE}")
    log(f"NCI1: {ds.num_graphs} graphs, {kept.size} with <= {opts.max_nodes} nodes ({dropped} dropped)")
    _check_plan(opts.out_dir, {**_plan_record(opts, str(dataset_dir)), "command": command}, opts.resume)

    results_path = os.path.join(opts.out_dir, "results.jsonl")
    previous = read_results(results_path) if opts.resume and os.path.exists(results_path) else []
    rows: list[dict] = []
    pools: dict = {}
    labels = ds.graph_labels.astype(np.int32)
    epochs_done = 0

    for plan in plan_sweeps(opts):
        lanes = build_lanes(plan, opts, kept, ds.num_graphs)
        done = [r for r in previous if r.get("sweep") == plan.name]
        if done and {(r["model"], r["data_size"], r["seed"]) for r in done} == _expected_keys(lanes):
            log(f"{plan.name}: {len(done)} rows already in {results_path}; kept")
            rows.extend(done)
            continue
        if plan.architecture == "shared_sparse":
            if "sparse" not in pools:
                pools["sparse"] = (sparse_pool(ds, dtype), labels)
            pool_x, pool_y = pools["sparse"]
        else:
            if "dense" not in pools:
                pools["dense"] = (dense_pool(ds, kept, opts.max_nodes, dtype), labels[kept])
            pool_x, pool_y = pools["dense"]
        model, init_fn, apply_fn, augment_fn, sym_fn = sweep_functions(plan, opts, dtype)
        config = TrainConfig(
            loss="cross_entropy", learning_rate=opts.lr, max_epochs=opts.max_epochs, patience=opts.patience,
            early_stopping=opts.early_stopping, checkpoint_dir=os.path.join(opts.out_dir, "checkpoints", plan.name),
            checkpoint_every=opts.checkpoint_every, resume=opts.resume, sym_samples=opts.sym_samples,
            quiet=opts.quiet, eval_batch_size=opts.eval_batch_size, lane_groups=opts.lane_groups)
        first_epoch = []

        def on_epoch(epoch, summary, plan=plan, first_epoch=first_epoch):
            nonlocal epochs_done
            if not first_epoch:
                first_epoch.append(epoch)
                if epoch > 1:
                    log(f"{plan.name}: resumed from the checkpoint at epoch {epoch - 1}")
            epochs_done += 1
            if not opts.quiet and epoch % 10 == 0:
                log(f"{plan.name}: epoch {epoch}, {int(summary['active'].sum())} of {len(lanes)} lanes active, "
                    f"best val loss {float(summary['best_val'].min()):.4g} ({time.perf_counter() - start:.0f} s)")
            if opts.stop_after_epochs and epochs_done >= opts.stop_after_epochs:
                raise Interrupted(f"stopped after {epochs_done} epochs (--stop_after_epochs), in {plan.name} "
                                  f"at epoch {epoch}")

        log(f"{plan.name}: {len(lanes)} lanes ({', '.join(plan.variants)}; data sizes "
            f"{list(opts.data_sizes)}; seeds {list(opts.seeds)})")
        sweep_rows = sweep(LaneFns(init_fn, apply_fn, augment_fn, sym_fn), pool_x, pool_y, lanes, config,
                           config_fingerprint={"sweep": plan.name, "model": repr(model)},
                           epoch_callback=on_epoch).rows
        rows.extend(sweep_rows)
        write_results(opts.out_dir, rows, flags_text)
        summary = ", ".join(f"{r['model']}/{r['data_size']}/s{r['seed']}: acc {r['test_acc']:.3f}"
                            for r in sweep_rows)
        log(f"{plan.name}: done in {sweep_rows[0]['wall_s']:.0f} s ({summary})")

    wall_s = time.perf_counter() - start
    extra = _grid_notes(opts, int(kept.size), int(dropped), ds.num_graphs, None if opts.resume else wall_s,
                        common.machine_description(), command, rows)
    write_results(opts.out_dir, rows, flags_text)
    write_report(TASK, rows, opts.out_dir, extra_md=extra)
    log(f"task 2: {len(rows)} rows, report in {os.path.join(opts.out_dir, 'report.md')} ({wall_s:.0f} s)")
    return rows


def command_line() -> str:
    """The current process's command line, shell-quoted (for reports)."""
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.executable)] + sys.argv)


def report_only(opts: Options, command: str | None = None) -> str:
    """Rewrites report.md (and figures) of an existing run from its results.jsonl; trains nothing.

    ``opts`` must hold the run's settings (checked against plan.json). Sweeps
    without rows are listed as unfinished in the report. Returns report.md's path.
    """
    validate_options(opts)
    from symjax.report import write_report  # noqa: PLC0415
    from symjax.train import read_results  # noqa: PLC0415

    results_path = os.path.join(opts.out_dir, "results.jsonl")
    if not os.path.exists(results_path) or not os.path.exists(os.path.join(opts.out_dir, "plan.json")):
        raise ValueError(f"--report_only: expected results.jsonl and plan.json in --out_dir={opts.out_dir}")
    dataset_dir = tu.find_dataset_dir("NCI1", opts.data_dir)
    with open(os.path.join(opts.out_dir, "plan.json")) as f:
        run_command = json.load(f).get("command")
    _check_plan(opts.out_dir, {**_plan_record(opts, str(dataset_dir)), "command": run_command}, resume=True)
    if command and run_command:
        command = f"{run_command}` (report rewritten from its results by `{command}"
    ds = tu.load_tu_dataset(dataset_dir)
    kept, dropped = tu.select_by_size(ds, opts.max_nodes)
    rows = read_results(results_path)
    extra = _grid_notes(opts, int(kept.size), int(dropped), ds.num_graphs, None, common.machine_description(),
                        command, rows)
    return write_report(TASK, rows, opts.out_dir, extra_md=extra)[-1]
