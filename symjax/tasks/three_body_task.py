"""Task 3 end to end: next-state prediction for three particles (study ch. 3 §5, ch. 4 §4, Tables 4 and 7, Figures 8-9).

Task. Learn f: R^12 -> R^12, x_t -> x_{t + 10 simulator steps}, for the
softened three-body problem of ``symjax.data.three_body``; S_2 swaps particles
1 and 2 (equal masses) on inputs and targets alike (an equivariant task):

    g . (x_1, x_2, x_3) = (x_2, x_1, x_3),   x_i = (px, py, vx, vy),

as the action ``direct_sum(blocks(S2, 4), trivial(S2, 4))`` on the 12 indices.

Data (documented choice; ``symjax.tasks.three_body_data``). One simulation with ``DATA_SEED`` gives the
training trajectories (81 trajectories x 499 pairs = 40419 pairs, enough for
the largest Table-4 size, whatever ``data_sizes`` a run uses) and the 50
held-out test trajectories (24950 pairs); training and test initial states
come from independent random streams, so no test trajectory is trained on.
Every lane (seed s, data size n) draws its own n pairs uniformly without
replacement from all training-trajectory pairs, with
``np.random.default_rng([LANE_DATA_SALT, s, n])``, and splits them 8:2
(round(0.8 n) training pairs, the rest validation); the batch size is Table
4's (1000: 128, 5000: 256, 20000: 512, 40000: 1024). Lanes of the same seed
and size (vanilla, vanilla_aug, shared, shared_aug) get the same pairs. Every
lane is tested on all 24950 test pairs.

Normalisation. States are standardised with ``three_body.fit_normalizer``
fitted on the training-trajectory inputs x_t (statistics of particles 1 and
2 pooled), the same (mean, std) for inputs and targets:

    z = (x - mean) / std,   mean[swap] == mean, std[swap] == std,

so normalize(g . x) = g . normalize(x) and a model equivariant in z is
equivariant in physical units. Models are trained on (z_t, z_{t+10}); test
loss and symmetry error (eq. 8) are in these normalised units.

Variants. vanilla / vanilla_aug (dense MLP) share one sweep per model size, shared /
shared_aug (``SwapBlockLayer`` stack) another. Augmentation applies a uniform
g in S_2 to input AND target of every training example (swap with
probability 1/2). Adam 1e-3, MSE, at most 400 epochs, patience 20.

Rollouts (Figure 9 and physical consistency). From the first
``rollout_trajectories`` test trajectories' initial states each lane's best
model is iterated K = ``rollout_steps`` times; rollout_mse, energy_drift and
momentum_drift as defined in ``symjax.tasks.three_body_rollouts``. A PNG per
model size (``fig9_task3_rollouts_<size>.png``) shows, for the lane with the
lowest test loss of each variant, predicted vs true paths of the 3 particles
in the plane.

Sweeps: one per (model size, architecture), named '<size>_<architecture>'.
Everything else (flags, resume, results after every sweep, progress, report)
is the driver's (``symjax.tasks.driver``).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from symjax import actions, groups
from symjax.data import three_body as tb
from symjax.models.three_body_models import three_body_model
from symjax.tasks import common, driver
from symjax.tasks.departures import Departure
from symjax.tasks.driver import option
from symjax.tasks.three_body_data import (  # noqa: F401  (re-exported: the task's data API)
    DATA_SEED, FULL_DATA, LANE_DATA_SALT, PAIR_DRAWS, POOL_TEST_SALT, QUICK_DATA, TEST_SPLITS, draw_pairs,
    lane_indices, lane_split, lane_split_by_trajectory, make_pool, no_change_loss, own_normalizer_shift,
    test_trajectories, train_trajectories)
from symjax.tasks.three_body_rollouts import lane_rollouts, rollout_metrics
from symjax.train import LaneFns

NUMBER = 3
MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug")
MODEL_SIZES = ("small", "medium", "large")
MEDIUM_SHARED_WIDTHS = ("divide", "thesis")
VAL_SPLITS = ("pairs", "trajectory")
ARCHITECTURES = ("vanilla", "shared")



@dataclasses.dataclass(frozen=True)
class Options(driver.CommonOptions):
    """Task 3's options; the defaults are the study's full grid (Table 4) and settings."""

    MODELS = MODELS

    model_sizes: tuple = option(MODEL_SIZES, "Model sizes of Table 4 (small, medium, large).")
    data_sizes: tuple = option(tuple(sorted(tb.TABLE4)), "Training + validation pairs (Table 4 sizes), split 8:2.")
    models: tuple = option(MODELS, "Model variants to train.")
    max_epochs: int = option(400, "Maximum epochs per lane.")
    patience: int = option(20, "Early-stopping patience in epochs.")
    medium_shared_widths: str = option("divide", "Shared medium block widths: 'divide' (widths / 3, 11080 params) "
                                       "or 'thesis' (the study's Table 4: block widths 4, 16, 24, 24, 16, 4; 7528 "
                                       "params).", MEDIUM_SHARED_WIDTHS)
    normalize: str = option("standard", "State preprocessing: 'standard' (per-feature standardisation, the "
                            "project) or 'none' (raw simulated states, the study ch. 4 §4: no standardisation is "
                            "described). Test loss and symmetry error are in the units the models see.",
                            tb.NORMALIZATIONS)
    velocity_centring: str = option("mass", "Initial velocities minus their 'mass'-weighted mean (the project: zero "
                                    "total momentum) or their 'plain' mean (the study ch. 3 §5).",
                                    tb.VELOCITY_CENTRINGS)
    val_split: str = option("pairs", "Validation pairs: 'pairs' = a random 8:2 split of the drawn pairs (a "
                            "trajectory may feed both sides) or 'trajectory' = training and validation from disjoint "
                            "trajectories. The study (ch. 4 §4) says only '8 : 2 비율로 분할'.", VAL_SPLITS)
    test_split: str = option("trajectories", "Test pairs: 'trajectories' = all pairs of the 50 held-out test "
                             "trajectories (the project: no test trajectory is trained on) or 'pool' = each lane "
                             "draws its test pairs (as many) from the same pooled trajectories as its training and "
                             "validation pairs, disjoint from them. The study (ch. 4 §4, Table 4) gives only the "
                             "test size, 24950 (= 50 x 499 pairs).", TEST_SPLITS)
    integrator: str = option("verlet", "Simulator time stepping: 'verlet' (velocity Verlet, the project) or "
                             "'euler' (forward Euler). The study (ch. 4 §4) gives dt = 0.01 but names no "
                             "integrator.", tb.INTEGRATORS)
    softening: str = option("study", "Force law: 'study' = eq. 22, |F| = m_i m_j / (r^2 + eps^2), or 'plummer' = "
                            "m_i m_j r / (r^2 + eps^2)^(3/2). The study writes eq. 22 with eps = 0.5 and names "
                            "no softening scheme.", tb.SOFTENINGS)
    pair_draw: str = option("uniform", "How a lane's pairs come from the one simulated pool that every data size "
                            "and seed shares: 'uniform' = its data size of pairs drawn uniformly from all pairs "
                            "(the project: every trajectory contributes) or 'whole_trajectories' = all pairs of as "
                            "few randomly chosen trajectories as hold them (1000 pairs: 2 whole trajectories and "
                            "part of a third), as a simulation of just enough trajectories would give. The study "
                            "(ch. 4 §4) says only that every 10-step pair of each 5000-step trajectory is a pair.",
                            PAIR_DRAWS)
    rollout_steps: int = option(50, "Model steps (x 10 simulator steps) of each rollout.")
    rollout_trajectories: int = option(5, "Test trajectories whose initial states start the rollouts.")
    out_dir: str = option("runs/task3", "Output folder (results, report, figures, checkpoints).")

    def validate(self) -> None:
        super().validate()
        sizes = list(self.model_sizes)
        if not sizes or any(s not in MODEL_SIZES for s in sizes) or len(set(sizes)) != len(sizes):
            raise ValueError(f"--model_sizes: expected distinct sizes from {list(MODEL_SIZES)}, got {sizes}")
        if self.medium_shared_widths not in MEDIUM_SHARED_WIDTHS:
            raise ValueError(f"--medium_shared_widths: expected one of {list(MEDIUM_SHARED_WIDTHS)}, "
                             f"got {self.medium_shared_widths!r}")
        driver.check_ints("data_sizes", self.data_sizes, low=1, allowed=tb.TABLE4)
        for name, allowed in (("normalize", tb.NORMALIZATIONS), ("velocity_centring", tb.VELOCITY_CENTRINGS),
                              ("val_split", VAL_SPLITS), ("test_split", TEST_SPLITS),
                              ("integrator", tb.INTEGRATORS), ("softening", tb.SOFTENINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"--{name}: expected one of {list(allowed)}, got {getattr(self, name)!r}")
        if self.pair_draw not in PAIR_DRAWS:
            raise ValueError(f"--pair_draw: expected one of {list(PAIR_DRAWS)}, got {self.pair_draw!r}")
        if self.pair_draw == "whole_trajectories" and self.val_split == "trajectory":
            raise ValueError("--pair_draw=whole_trajectories and --val_split=trajectory: expected at most one of "
                             "them (the trajectory split draws its own trajectories)")
        if self.test_split == "pool" and self.val_split == "trajectory":
            raise ValueError("--test_split=pool and --val_split=trajectory: expected at most one of them (a pooled "
                             "test set draws pairs, not trajectories)")
        data = QUICK_DATA if self.quick else FULL_DATA
        limits = {"rollout_steps": (data["num_steps"] // tb.RECORD_EVERY - 1, "snapshots per test trajectory - 1"),
                  "rollout_trajectories": (data["num_test_trajectories"], "test trajectories")}
        for name, (limit, what) in limits.items():
            driver.check_int(name, getattr(self, name), low=1)
            if getattr(self, name) > limit:
                raise ValueError(f"--{name}: expected at most {limit} ({what}{' with --quick' if self.quick else ''})"
                                 f", got {getattr(self, name)}")


QUICK = dict(model_sizes=("small",), data_sizes=(1000,), seeds=(0, 1), max_epochs=3, rollout_trajectories=2)

#: Where the project departs from the study's text (``symjax.report.departures``); --settings=study restores them.
DEPARTURES = (
    Departure("normalize", "state standardisation",
              "none: trains on the simulated states (ch. 4 §4 describes no preprocessing)", "none"),
    Departure("velocity_centring", "initial-velocity centring",
              "the plain mean of the velocities is removed (ch. 3 §5)", "plain"),
    Departure("augment_per", "augmentation draw", "one random permutation per batch (ch. 4 §1)", "batch"),
    Departure("medium_shared_widths", "medium shared model", "block widths 4, 16, 24, 24, 16, 4: 7528 parameters "
              "(Table 4)", "thesis"),
    Departure("val_split", "train/validation split", "8:2, not said whether by trajectory (ch. 4 §4)"),
    Departure("test_split", "test set", "24950 test pairs (Table 4; = 50 trajectories x 499 pairs), \"8 : 2 비율로 "
              "training data와 validation data를 분할\" (ch. 4 §4): not said whether the test pairs come from "
              "trajectories that no training pair comes from"),
    Departure("integrator", "simulator time stepping", "dt = 0.01, 5000 steps (ch. 4 §4): no integrator named"),
    Departure("softening", "force softening", "eq. 22, F = -m1 m2 / (r^2 + eps^2) r_hat with eps = 0.5 (ch. 4 §4): "
              "the project's default follows it; Plummer softening is the common alternative", "study"),
    Departure("pair_draw", "which pairs a data size holds", "\"각각 5000 step동안 전개하였고, 매 10 step마다 상태를 "
              "저장하여 ... 하나의 학습 쌍으로 사용\" (ch. 4 §4): not said how many trajectories a data size's "
              "pairs come from, nor whether the data sizes and seeds draw from one shared simulation (the project: "
              "one pool of 81 trajectories that every lane draws from)"),
)


def s2_action() -> actions.Action:
    """S_2 on states (12,): swaps indices 0-3 (particle 1) with 4-7 (particle 2), fixes 8-11."""
    s2 = groups.symmetric(2)
    return actions.direct_sum(actions.blocks(s2, 4), actions.trivial(s2, 4))


def model_sizes_flag(flag_values) -> dict:
    """{'model_sizes': (size,)} when --model_size=<size> is given (the short form), else {}.

    Raises ValueError when --model_sizes is also given with other sizes.
    """
    size = flag_values["model_size"].value
    if size is None:
        return {}
    if flag_values["model_sizes"].present and list(flag_values["model_sizes"].value) != [size]:
        raise ValueError(f"--model_size={size} and --model_sizes={','.join(flag_values['model_sizes'].value)}: "
                         "expected one of them")
    return {"model_sizes": (size,)}


def plan_sweeps(opts: Options) -> list[driver.SweepPlan]:
    """One sweep per (model size, architecture); all share the one simulated pool."""
    plans = []
    for size in opts.model_sizes:
        for arch in ARCHITECTURES:
            variants = tuple(m for m in opts.models if m.split("_")[0] == arch)
            if variants:
                plans.append(driver.SweepPlan(f"{size}_{arch}", size, arch, variants))
    return plans


def complete_rows(opts: Options, data: dict, rows: list[dict]) -> list[dict]:
    """Rows with ``no_change_loss`` filled in where a run recorded before the column lacks it (the lane's test
    pairs are a function of the options, seed and data size: ``lane_indices``)."""
    cache: dict = {}

    def loss(seed: int, size: int) -> float:
        if (seed, size) not in cache:
            cache[(seed, size)] = no_change_loss(data, lane_indices(opts, seed, size, data)[2])
        return cache[(seed, size)]

    return [row if row.get("no_change_loss") not in (None, "") else
            dict(row, no_change_loss=loss(int(row["seed"]), int(row["data_size"]))) for row in rows]


def build_lanes(opts: Options, plan: driver.SweepPlan, data: dict, pool=None) -> list:
    """Lanes of one sweep: for each variant, data size and seed (in that order); each row carries the "no
    change" predictor's loss on the lane's test pairs (``no_change_loss``)."""
    from symjax.train import Lane  # noqa: PLC0415

    lanes = []
    for model in plan.variants:
        for n in opts.data_sizes:
            for seed in opts.seeds:
                train_idx, val_idx, test_idx = lane_indices(opts, seed, n, data)
                lanes.append(Lane(seed=int(seed), train_idx=train_idx, val_idx=val_idx, test_idx=test_idx,
                                  batch_size=tb.TABLE4[n], augment=model.endswith("_aug"),
                                  meta={"task": NUMBER, "model": model, "setting": plan.setting,
                                        "data_size": int(n), "sweep": plan.name,
                                        "no_change_loss": no_change_loss(data, test_idx)}))
    return lanes


# ---------------------------------------------------------------- the driver's hooks
def load_data(opts: Options) -> dict:
    """The simulated pool of ``make_pool`` (short trajectories with --quick; ``train_trajectories``), in the
    run's precision, preprocessing and velocity centring. Raises ValueError naming --data_sizes when the pool
    cannot serve them."""
    data = make_pool(quick=opts.quick, dtype=np.float64 if opts.x64 else np.float32, normalize=opts.normalize,
                     velocity_centring=opts.velocity_centring, num_train_trajectories=train_trajectories(opts),
                     integrator=opts.integrator, softening=opts.softening)
    pooled = opts.test_split == "pool"
    test = data["test_idx"].size
    limit = data["num_train_pairs"]  # pooled: (train + test) - test
    what = f"the {data['num_train_pairs'] + test} pooled pairs less {test} test pairs" if pooled \
        else "the training-trajectory pairs"
    if max(opts.data_sizes) > limit:
        raise ValueError(f"--data_sizes: expected at most {limit} ({what}), got {max(opts.data_sizes)}")
    return data


def build_pool(opts: Options, plan: driver.SweepPlan, data: dict):
    return data["pool_x"], data["pool_y"]


def _model(opts: Options, plan: driver.SweepPlan):
    return three_body_model(plan.architecture, plan.setting, opts.medium_shared_widths)


def lane_fns(opts: Options, plan: driver.SweepPlan, data=None):
    """The sweep's model; the swap applied to input and target (augmentation) and in eq. 8."""
    spec, action = _model(opts, plan), s2_action()
    dtype = np.float64 if opts.x64 else np.float32
    return LaneFns(init=lambda key: spec.init(key, dtype), apply=spec.apply,
                          augment=common.augmentation(action, action),
                          symmetry_error=common.symmetry_error_fn(spec.apply, action, action))


def after_sweep(opts: Options, plan: driver.SweepPlan, data: dict, pool, result, artifacts: dict) -> list[dict]:
    """Adds every lane's rollout metrics to its row; keeps the best lane of each variant for Figure 9."""
    rows, params = result.rows, result.params
    pred, true = lane_rollouts(_model(opts, plan).apply, params, data["mean"], data["std"],
                               data["test_trajectories"][: opts.rollout_trajectories], opts.rollout_steps)
    metrics = rollout_metrics(pred, true, opts.softening)
    rows = [dict(row, **{name: float(values[i]) for name, values in metrics.items()}) for i, row in enumerate(rows)]
    for model in plan.variants:
        candidates = [i for i, r in enumerate(rows)
                      if r["model"] == model and np.isfinite(r["test_loss"]) and not r["diverged"]]
        if candidates:
            r = rows[best := min(candidates, key=lambda i: rows[i]["test_loss"])]
            artifacts.setdefault(plan.setting, []).append({
                "title": (f"{model} ({plan.setting}, data {r['data_size']}, seed {r['seed']})\n"
                          f"test loss {r['test_loss']:.3g}, rollout MSE@{opts.rollout_steps} {r['rollout_mse']:.3g}"),
                "pred": pred[best, 0], "true": true[0]})
    return rows


def figure_name(model_size: str) -> str:
    return f"fig9_task3_rollouts_{model_size}.png"


def write_figures(opts: Options, artifacts: dict, out_dir: str) -> list[str]:
    """Figure 9 per model size trained in this invocation (panels of this process's lanes)."""
    from symjax.report import figure9_rollouts  # noqa: PLC0415

    return [figure9_rollouts(panels, os.path.join(out_dir, figure_name(size))) for size, panels in artifacts.items()]


def notes(opts: Options, data: dict) -> list[str]:
    """Task 3's lines of the report's run section."""
    short = f"--quick (short trajectories of {QUICK_DATA['num_steps']} steps) " if opts.quick else ""
    held_out = data["test_trajectories"].shape[0]
    draw = ("uniformly from them" if opts.pair_draw == "uniform"
            else "as all pairs of as few randomly chosen trajectories as hold them")
    if opts.test_split == "pool":
        source = (f"{data['num_train_pairs'] + data['test_idx'].size} pairs of all {data['num_train_trajectories']}"
                  f" + {held_out} trajectories, pooled (simulation seed {DATA_SEED}, --test_split=pool)")
        test = (f"test = {data['test_idx'].size} pairs per lane, drawn uniformly from the pooled pairs the lane "
                "does not train or validate on (fresh per seed and size)")
    else:
        source = f"{data['num_train_pairs']} training-trajectory pairs (simulation seed {DATA_SEED})"
        test = f"test = {data['test_idx'].size} pairs of {held_out} held-out trajectories"
    split = ("training and validation from disjoint trajectories" if opts.val_split == "trajectory"
             else "a random split of the drawn pairs")
    if opts.normalize == "standard":
        shift, low, high = own_normalizer_shift(opts, data)
        own = (f" Fitted on its own {round(tb.TRAIN_FRACTION * min(opts.data_sizes))} training pairs (data size "
               f"{min(opts.data_sizes)}), a lane's normaliser would move the means by up to {shift:.3g} and scale "
               f"the stds by {low:.3g}-{high:.3g} of the shared ones (measured over this run's seeds).")
    return [
        f"Data: {short}{source}; each lane draws its data size {draw} (fresh per seed and size), split 8:2 "
        f"({split}); initial velocities minus their "
        f"{'mass-weighted' if opts.velocity_centring == 'mass' else 'plain'} mean; augmentation one swap per "
        f"{opts.augment_per}; {test}; batch size per Table 4; Adam, MSE. Every lane's row holds the \"no change\" "
        "predictor's loss on its own test pairs (no_change_loss).",
        ("Normalisation: per-feature standardisation fitted once on the inputs x_t of all training-trajectory "
         "pairs (not per lane: a lane is standardised with statistics of pairs it may never train on"
         f"{', and with --test_split=pool of pairs that are test pairs of some lanes' if opts.test_split == 'pool' else ''}"
         "), statistics of particles 1 and 2 pooled (commutes with the swap); test loss and symmetry error are in "
         "these units." + own if opts.normalize == "standard" else "Normalisation: none (--normalize=none, the study's "
         "raw states); test loss and symmetry error are in physical units."),
        f"Simulator: {'velocity Verlet' if opts.integrator == 'verlet' else 'forward Euler'}, dt = {tb.DT}, "
        f"force {'of eq. 22' if opts.softening == 'study' else 'with Plummer softening'} (eps = {tb.EPS}).",
        f"Models: Table 4 widths; medium shared block widths '{opts.medium_shared_widths}'.",
        f"Rollouts: every lane's best model iterated {opts.rollout_steps} model steps (x 10 simulator steps) from "
        f"the first states of the first {opts.rollout_trajectories} held-out trajectories"
        f"{' (pooled with --test_split=pool, so a lane may have trained on some of their pairs)' if opts.test_split == 'pool' else ''}"
        "; rollout_mse = MSE at the last step (physical units); energy_drift = mean |E_K - E_0| / mean |E_0|; "
        "momentum_drift = mean |P_K - P_0|.",
    ]


class ThreeBodyTask(driver.Task):
    """Task 3 for the driver; its methods are this module's functions."""

    name, number, script, options, quick, loss = "task3", NUMBER, "experiments/task3.py", Options, QUICK, "mse"
    plan_fields = ("model_sizes", "models")
    labels = {"model_sizes": "model sizes", "data_sizes": "data sizes"}
    departures = DEPARTURES
    plan_sweeps = staticmethod(plan_sweeps)
    load_data = staticmethod(load_data)
    build_pool = staticmethod(build_pool)
    build_lanes = staticmethod(build_lanes)
    lane_fns = staticmethod(lane_fns)
    notes = staticmethod(notes)
    after_sweep = staticmethod(after_sweep)
    write_figures = staticmethod(write_figures)
    complete_rows = staticmethod(complete_rows)


TASK = ThreeBodyTask()



def run(opts: Options | None = None, *, command: str | None = None, **changes) -> list[dict]:
    """Task 3 through the driver: ``run(Options(model_sizes=('large',)))`` or ``run(model_sizes=('large',))``."""
    opts = dataclasses.replace(opts or Options(), **changes)
    return driver.run(TASK, opts, command=command)
