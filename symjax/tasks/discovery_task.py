"""The five discovery experiments of reference 001 (§3.1-3.3) on the experiment driver.

One ``driver.Task`` per experiment (``TASKS[name]``), all with the same flags
(``Options``) and each with the reference's settings as its defaults
(``EXPERIMENT_DEFAULTS``). Every model variant of ``symjax.models.discovery_models.VARIANTS``
is one sweep (MNIST: one generic sweep per offset pair (b, b')), whose lanes are

    λ (``--lams``; only models with a penalty weight 'lam') x seeds x training-set sizes
    (x the degree split 'random' / 'by_graph'),

so a λ sweep is one jit(vmap) program. The per-lane Adam learning rate is
``--lr`` (the reference's where it gives one) for the generic, soft and hard
models; the baselines (DeepSets, CNN, GCN) train one lane per rate of the grid
``--baseline_lr`` (default 1e-3, 1e-2, 0.1) and the report keeps, per training
size, the rate with the best validation metric (mean over seeds); the image
experiments' generic, soft and hard weights start N(0, ``--init_std``^2)
(0: LeCun). translation_2d and mnist default to lr 0.1 and init_std 1, where the
reference is silent: with lr 0.01 and LeCun every model stalls near 2/3
(docs/results/discovery/translation_2d/plateau.md). The grid replaces the
hand-picked rates of earlier recordings (MNIST's CNN at 0.1, the others at 1e-3;
docs/results/discovery/mnist/cnn_baseline.md).

Data. One dataset per run (``--data_seed``); seeds change the initial
parameters, the batch order and the eq.-8 samples. Training-set sizes are
nested prefixes of the training split (``symjax.data.discovery.train_subset``).

After each sweep (``after_sweep``) every lane's row gains: the reference's
test metric (``symjax.report.discovery.task_metrics``: test_l1 / test_acc /
test_node_acc) and the same metric on the validation split (val_metric, which
picks the baseline's learning rate), the sharing scores of its weight against
the reference's group and the other candidates, fixed and aligned (``lane_sharing``:
sharing_score, aligned_score, top_symmetry, top_aligned, ..., and the
reference's colsum_deviation / translation_correlation), and the weight of one
lane is saved for the heat maps (``weights/<sweep>.npz``). The eq.-8 symmetry
error under the task's group is the engine's sym_error; sym_error_rel divides
it by the mean squared test output, so that one gate (1%) fits every task.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from symjax.data import discovery as dd
from symjax.models import discovery_models as dm
from symjax.tasks import driver
from symjax.tasks.discovery_options import (  # noqa: F401  (re-exported: the experiments' options)
    BASELINE_LR_NOTES, BASELINES, CHANGES_FILE, DEGREE_COPIES, EXPERIMENT_DEFAULTS, EXPERIMENTS, IMAGE_EXPERIMENTS,
    METRIC_OF, QUICK, QUICK_COMMON, REFERENCE_LAMS, WEIGHTS_DIR, Options, _options_type, check_train_sizes, model,
    offset_pairs)

# ---------------------------------------------------------------------------- sweeps and data
def plan_sweeps(opts: Options) -> list[driver.SweepPlan]:
    """One sweep per model variant in VARIANTS order; MNIST's generic model one per offset pair."""
    plans = []
    for variant in dm.VARIANTS[opts.experiment]:
        if variant not in opts.models:
            continue
        offsets_apply = variant.startswith("generic") and opts.experiment in IMAGE_EXPERIMENTS
        pairs = offset_pairs(opts.offsets) if offsets_apply else [None]
        for pair in pairs:
            name = variant if pair is None or len(pairs) == 1 else f"{variant}_o{pair[0]}_{pair[1]}"
            plans.append(driver.SweepPlan(name, pair, variant, (variant,), pool=opts.experiment))
    return plans


def _mnist(opts: Options) -> dd.Splits:
    from symjax.data import mnist  # noqa: PLC0415

    try:
        digits = mnist.load_mnist(opts.data_dir or None)
    except (OSError, ValueError, KeyError) as error:
        env = os.environ.get(mnist.ENV_VAR)
        source = ("--data_dir" if opts.data_dir else f"${mnist.ENV_VAR}" if env and env in str(error)
                  else "MNIST files")
        raise ValueError(f"{source}: {str(error).splitlines()[0]} (see symjax/data/mnist.py: set "
                         f"${mnist.ENV_VAR} or --data_dir to a folder with the official MNIST .gz files)") from None
    sizes = digits.default_sizes if tuple(opts.sizes) == (0, 0, 0) else tuple(opts.sizes)
    if max(opts.train_sizes) > sizes[0]:
        raise ValueError(f"--train_sizes: expected sizes <= the training split ({sizes[0]} MNIST digits), got "
                         f"{max(opts.train_sizes)}")
    check_train_sizes(opts, sizes[0])
    splits = dd.mnist_canvas(opts.data_seed, digits.images, digits.labels, *sizes,
                             test_start=None if digits.reduced else digits.test_start, canvas=opts.canvas)
    splits.info["describe"] = digits.describe()
    return splits


def load_data(opts: Options) -> dict:
    """{split name: Splits} ('random' and/or 'by_graph' for degree, else 'random' only), checked against the sizes.

    Raises ValueError naming the flag (data too small, MNIST files missing or corrupt).
    """
    e, (n_train, n_val, n_test) = opts.experiment, opts.sizes
    if e == "mnist":
        return {"random": _mnist(opts)}
    if e == "degree":
        graphs = [s // DEGREE_COPIES for s in opts.sizes]
        return {split: dd.degree(opts.data_seed, split, n_graphs=sum(graphs), n_copies=DEGREE_COPIES - 1,
                                 n_val_graphs=graphs[1], n_test_graphs=graphs[2]) for split in opts.degree_splits}
    make = {"set_sum": dd.set_sum, "translation_1d": dd.translation_1d, "translation_2d": dd.translation_2d}[e]
    return {"random": make(opts.data_seed, n_train, n_val, n_test)}


def build_pool(opts: Options, plan: driver.SweepPlan, data: dict):
    """(pool_x, pool_y, index): the splits concatenated; index[split] = (train, val, test) pool indices."""
    xs, ys, index, offset = [], [], {}, 0
    for split, s in data.items():
        xs.append(s.x)
        ys.append(s.y)
        index[split] = tuple(np.asarray(i, np.int64) + offset for i in (s.train_idx, s.val_idx, s.test_idx))
        offset += s.x.shape[0]
    return np.concatenate(xs), np.concatenate(ys), index


def sweep_model(opts: Options, plan: driver.SweepPlan):
    """The sweep's model; the soft and hard models take the first offset pair (they do not use it)."""
    offsets = plan.setting if plan.setting is not None else offset_pairs(opts.offsets)[0]
    return model(opts, plan.architecture, tuple(offsets))


def lams_of(opts: Options, variant_model) -> list:
    """The λ lane axis of a model: --lams when its penalty has a weight 'lam', else [None]."""
    return list(opts.lams) if "lam" in variant_model.hyper_keys else [None]


def build_lanes(opts: Options, plan: driver.SweepPlan, data: dict, pool) -> list:
    """Lanes in the order (split, train size, λ, learning rate, seed); meta: task, model, setting, sweep, lam, lr,
    offsets, split. The baseline's learning rates are ``--baseline_lr`` (a grid, picked on validation in the
    report); every other model trains at ``--lr``."""
    from symjax.train import Lane  # noqa: PLC0415

    spec = sweep_model(opts, plan)
    baseline = plan.architecture == BASELINES[opts.experiment]
    lanes = []
    for split, (train, val, test) in pool[2].items():
        for size in opts.train_sizes:
            train_idx = train if size == 0 else train[:int(size)]
            for lam in lams_of(opts, spec):
                hyper = {}
                if lam is not None:
                    hyper = {"lam": lam, **({"l1": opts.l1} if "l1" in spec.hyper_keys else {})}
                    hyper = dm.check_hyper_values(spec, hyper)
                for rate in (opts.baseline_lr if baseline else (opts.lr,)):
                    for seed in opts.seeds:
                        meta = {"task": opts.experiment, "model": plan.architecture, "setting": opts.experiment,
                                "sweep": plan.name, "lam": lam, "lr": float(rate),
                                "offsets": None if plan.setting is None else f"{plan.setting[0]},{plan.setting[1]}",
                                "split": split}
                        lanes.append(Lane(seed=int(seed), train_idx=train_idx, val_idx=val, test_idx=test,
                                          batch_size=int(opts.batch_size), meta=meta,
                                          learning_rate=float(rate), hyper=hyper))
    return lanes


def sweep_ignores(opts: Options, plan: driver.SweepPlan) -> tuple:
    """Options a sweep does not read: the baseline trains at --baseline_lr with its own initialisation and
    no penalty; the generic, soft and hard models never read --baseline_lr."""
    if plan.architecture == BASELINES[opts.experiment]:
        return ("lr", "init_std", "lams", "l1")
    keys = sweep_model(opts, plan).hyper_keys  # a model without a penalty weight has no λ lanes
    return ("baseline_lr",) + (() if "lam" in keys else ("lams",)) + (() if "l1" in keys else ("l1",))


def lane_fns(opts: Options, plan: driver.SweepPlan, data=None):
    return dm.lane_fns(sweep_model(opts, plan))


# ---------------------------------------------------------------------------- after each sweep
def heatmap_lane(rows: list[dict], opts: Options) -> int:
    """The lane drawn in the heat maps: split 'random', the largest size, the claims' λ, first seed.

    The λ is ``discovery_report.claim_lambda``'s, the one the report's comparison and claims use.
    """
    from symjax.report.discovery_report import claim_lambda  # noqa: PLC0415

    lam, _ = claim_lambda(opts.experiment, [r["lam"] for r in rows])

    def key(i):
        r = rows[i]
        off = 0.0 if r["lam"] is None else abs(math.log10(max(r["lam"], 1e-12)) - math.log10(lam))
        return (r["split"] != "random", -int(r["train_size"]), off, r["seed"])

    return min(range(len(rows)), key=key)


def after_sweep(opts: Options, plan: driver.SweepPlan, data: dict, pool, result, artifacts) -> list[dict]:
    """Adds the reference's test metric and the sharing scores to every lane's row; saves one lane's weight."""
    from symjax.report import discovery as rd  # noqa: PLC0415
    from symjax.report.discovery_figures import weight_panels  # noqa: PLC0415

    spec = sweep_model(opts, plan)
    rows = [dict(r) for r in result.rows]
    predictions, validation = {}, {}
    for split, (_, val, test) in pool[2].items():
        predictions[split] = rd.lane_predictions(spec, result.params, pool[0][test], chunk=512)
        validation[split] = rd.lane_predictions(spec, result.params, pool[0][val], chunk=512)
    sharing = rd.lane_sharing(opts.experiment, spec, result.params)
    for lane, row in enumerate(rows):
        _, val, test = pool[2][row["split"]]
        row.update(rd.task_metrics(opts.experiment, predictions[row["split"]][lane], pool[1][test]))
        metric = METRIC_OF[opts.experiment]
        row["val_metric"] = rd.task_metrics(opts.experiment, validation[row["split"]][lane], pool[1][val])[metric]
        energy = float(np.mean(np.square(predictions[row["split"]][lane])))
        if row.get("sym_error") is not None and energy > 0:
            row["sym_error_rel"] = float(row["sym_error"]) / energy
        row.update(sharing[lane])
    if hasattr(spec, "weight"):
        lane = heatmap_lane(rows, opts)
        step = 4 if opts.experiment == "mnist" else 1
        panels = weight_panels(opts.experiment, spec, rd.lane_params(result.params, lane), step=step)
        folder = os.path.join(opts.out_dir, WEIGHTS_DIR)
        os.makedirs(folder, exist_ok=True)
        r = rows[lane]
        lam_text = "no λ (no penalty weight)" if r["lam"] is None else f"λ = {r['lam']:g}"
        caption = (f"{plan.name}: {lam_text}, seed {r['seed']}, train size {r['train_size']}"
                   + (f", split {r['split']}" if opts.experiment == "degree" else ""))
        np.savez(os.path.join(folder, f"{plan.name}.npz"), caption=np.array(caption),
                 names=np.array(list(panels)), **{f"panel_{i}": v for i, v in enumerate(panels.values())})
    return rows


def write_figures(opts: Options, artifacts, out_dir: str) -> list[str]:
    """One heat-map PNG per saved weight (reference 001 Figures 2, 4, 5, 7, 21)."""
    from symjax.report.discovery_figures import AXIS_LABELS, FIGURES_001, heatmap_figure  # noqa: PLC0415

    folder = os.path.join(out_dir, WEIGHTS_DIR)
    paths = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.endswith(".npz"):
            continue
        with np.load(os.path.join(folder, name)) as saved:
            panels = {str(title): saved[f"panel_{i}"] for i, title in enumerate(saved["names"])}
            caption = str(saved["caption"])
        paths.append(heatmap_figure(panels, os.path.join(out_dir, "figures", f"weights_{name[:-4]}.png"),
                                    title=f"{caption} (cf. reference 001 {FIGURES_001[opts.experiment]})",
                                    axis_labels=AXIS_LABELS[opts.experiment]))
    return paths


def notes(opts: Options, data: dict) -> list[str]:
    """The run section's lines: data, split sizes, learning rates, λ grid."""
    first = next(iter(data.values()))
    lines = [f"Experiment {opts.experiment}: data seed {opts.data_seed}, train/val/test {first.train_idx.size}/"
             f"{first.val_idx.size}/{first.test_idx.size}; training-set sizes {list(opts.train_sizes)} (0 = all; "
             "nested prefixes of the training split).",
             f"Adam, learning rate {opts.lr} (generic, soft, hard) and {list(opts.baseline_lr)} (baseline lanes, "
             "the report keeps the best on validation), batch "
             f"{opts.batch_size}, at most {opts.max_epochs} epochs, early stopping patience {opts.patience}; loss "
             f"{dm.training_loss(opts.experiment, opts.regression_loss)}.",
             f"λ lanes of the penalised models: {list(opts.lams)}; seeds {list(opts.seeds)} (init, batch order and "
             "eq.-8 samples; the dataset is the same for every lane)."]
    if "describe" in first.info:
        lines.append(f"MNIST: {first.info['describe']}; canvas {opts.canvas} x {opts.canvas}.")
    if opts.experiment in IMAGE_EXPERIMENTS:
        lines.append(f"Offset pairs (b, b') of the generic penalty: {opts.offsets}.")
        generic = model(opts, "generic" if opts.experiment != "translation_1d" else "generic_elu", (0, 0))
        lines.append(offset_agreement(offset_pairs(opts.offsets), generic.stride, generic.image_shape[0],
                                      generic.translations[0]))
    return lines


def offset_agreement(pairs: list[tuple[int, int]], stride: int, size: int, translations: int) -> str:
    """Which offset pairs tie only weights that the data's translations tie (a report line).

    The penalty ties W[k, t, p] to W[k, t + b, p + b'] (b on every translation axis, b' on every pixel
    axis). A translation by b steps moves the pixels by stride * b, so the symmetry ties W[k, t, p] to
    W[k, t + b, p + stride * b]: a pair agrees with it when b' = stride * b (mod the image size) and
    b != 0 (mod the translations); (0, 0) ties nothing.
    """
    verdicts = []
    for b, b2 in pairs:
        if b % translations == 0 and b2 % size == 0:
            verdicts.append(f"({b}, {b2}) ties nothing")
        elif b % translations and b2 % size == (stride * b) % size:
            verdicts.append(f"({b}, {b2}) agrees")
        else:
            verdicts.append(f"({b}, {b2}) does not ({stride} b = {(stride * b) % size} mod {size})")
    return ("Offset pairs against the data's translations (a pair ties W[t, p] to W[t + b, p + b']; the "
            f"translations tie W[t, p] to W[t + b, p + {stride} b], so a pair agrees when b' = {stride} b mod "
            f"{size}): " + "; ".join(verdicts) + ".")


def run_choices(opts: Options) -> dict:
    """The report's choices where reference 001 is silent that this run's options decide: {topic: text}."""
    from symjax.report.discovery import reference_settings  # noqa: PLC0415

    out = dm.model_choices(opts.experiment, regression_loss=opts.regression_loss, init_std=opts.init_std or None)
    reference_lr = reference_settings(opts.experiment).get("learning_rate")
    lr = (f"{opts.lr} (the reference's)" if reference_lr is not None and math.isclose(opts.lr, reference_lr) else
          f"{opts.lr} (the reference gives {reference_lr})" if reference_lr is not None else
          f"{opts.lr} (the reference gives none for this experiment)")
    baseline_lr = f"picked on validation from the lanes {list(opts.baseline_lr)}"
    if opts.experiment in BASELINE_LR_NOTES:
        baseline_lr += f" ({BASELINE_LR_NOTES[opts.experiment]})"
    out["training"] = (f"Adam, learning rate {lr}, baselines {baseline_lr}; batch {opts.batch_size}; at most "
                       f"{opts.max_epochs} epochs, early stopping on the validation loss (patience {opts.patience}); "
                       "the reference names no optimiser, batch size or epoch count")
    return out


def write_report(opts: Options, rows: list[dict], extra_md: str) -> list[str]:
    """report.md of the run (``discovery_report.write_discovery_report``) with this run's choices.

    A --quick run's claims are not judged; ``<out_dir>/changes.md``, when present, is printed under the claims.
    """
    from symjax.report.discovery_report import write_discovery_report  # noqa: PLC0415

    not_judged = None
    if opts.quick:
        not_judged = (f"a --quick run (tiny data, {opts.max_epochs} epochs) checks the pipeline; its numbers are not "
                      "evidence for or against the reference")
    changes = os.path.join(opts.out_dir, CHANGES_FILE)
    if os.path.isfile(changes):
        with open(changes, encoding="utf-8") as handle:
            changes = handle.read().strip()
    else:
        changes = ""
    return write_discovery_report(opts.experiment, rows, opts.out_dir, extra_md, run_choices(opts),
                                  not_judged=not_judged, max_epochs=int(opts.max_epochs), changes=changes)


class DiscoveryTask(driver.Task):
    """One experiment of reference 001 for the driver; its methods delegate to this module's functions."""

    number, plan_fields = 0, ("models", "offsets")
    labels = {"models": "models", "lams": "λ", "train_sizes": "training-set sizes", "offsets": "offsets"}

    def __init__(self, experiment: str):
        self.name = f"discovery_{experiment}"
        self.script = f"experiments/discovery.py --experiment={experiment}"
        self.options = _options_type(experiment)
        self.quick = {**QUICK_COMMON, **QUICK[experiment]}

    def training_loss(self, opts):
        return dm.training_loss(opts.experiment, opts.regression_loss)

    def plan_sweeps(self, opts):
        return plan_sweeps(opts)

    def load_data(self, opts):
        return load_data(opts)

    def build_pool(self, opts, plan, data):
        return build_pool(opts, plan, data)

    def build_lanes(self, opts, plan, data, pool):
        return build_lanes(opts, plan, data, pool)

    def lane_fns(self, opts, plan, data):
        return lane_fns(opts, plan, data)

    def notes(self, opts, data):
        return notes(opts, data)

    def after_sweep(self, opts, plan, data, pool, result, artifacts):
        return after_sweep(opts, plan, data, pool, result, artifacts)

    def write_figures(self, opts, artifacts, out_dir):
        return write_figures(opts, artifacts, out_dir)

    def write_report(self, opts, rows, extra_md):
        return write_report(opts, rows, extra_md)

    def sweep_ignores(self, opts, plan):
        return sweep_ignores(opts, plan)


TASKS = {experiment: DiscoveryTask(experiment) for experiment in EXPERIMENTS}


def run(experiment: str, opts: Options | None = None, *, command: str | None = None, **changes) -> list[dict]:
    """One experiment through the driver: ``run('set_sum', seeds=(0,), out_dir=...)``."""
    if experiment not in TASKS:
        raise driver.BadInput(f"--experiment: expected one of {list(EXPERIMENTS)}, got {experiment!r}")
    task = TASKS[experiment]
    opts = dataclasses.replace(opts or task.options(), **changes)
    return driver.run(task, opts, command=command)
