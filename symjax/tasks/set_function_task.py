"""Task 1: the permutation-invariant set function (study ch. 3 §3, ch. 4 §2, Table 5, Figures 4-5).

For every number of blocks n in ``n_blocks`` and every architecture

* vanilla: dense MLP on x in R^n (``set_model('vanilla', n)``),
* shared:  S_n set layers + mean over blocks (``set_model('shared', n)``, 651 params),

all requested lanes of that architecture (train sizes x seeds x augmentation
off/on) are one sweep, trained with Adam on the MSE

    L(theta) = 1/B sum_b (f_theta(x_b) - y_b)^2,   y = sum_i phi(x_i)   (eq. 21).

Model names: 'vanilla' / 'shared' train without augmentation, 'vanilla_aug' /
'shared_aug' with it; a name with and without '_aug' share the architecture
and so share the sweep (and, for one seed, the data, the initial parameters
and the shuffles: the lane key depends on the seed only).

Data. Each (train size, seed) condition has its own Table-2 split from
``make_splits(seed, train_size, n)``; the splits of one n are concatenated
into one pool (N, n) / (N, 1) and every lane indexes its own ranges, so the
vanilla and the shared model of one condition see exactly the same data.

Augmentation. For every training example of every batch a uniform g in S_n is
drawn and x is replaced by g . x (the target is invariant); with
``--augment_per=batch`` (the study's, ch. 4 §1) one g per batch for all its
examples.

Symmetry error (eq. 8). Input action base(S_n), output action trivial(S_n, 1):

    SymErr = mean_{test x} mean_{k < sym_samples} (f(x) - f(g_k . x))^2.

Everything else (flags, resume, results after every sweep, progress, report)
is the driver's (``symjax.tasks.driver``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from symjax.data import set_function as sf
from symjax.tasks import driver
from symjax.tasks.departures import Departure
from symjax.tasks.driver import option

NUMBER = 1
ARCHITECTURES = ("vanilla", "shared")
MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug")


@dataclasses.dataclass(frozen=True)
class Options(driver.CommonOptions):
    """Task 1's options; the defaults are the study's full grid (ch. 4 §1-2, Table 2)."""

    MODELS = MODELS

    n_blocks: tuple = option((1, 2, 5, 10, 20), "Numbers of blocks n (input x in R^n).")
    train_sizes: tuple = option(tuple(sf.TABLE2), "Training-set sizes (Table 2).")
    models: tuple = option(MODELS, "Model variants to train.")
    max_epochs: int = option(250, "Maximum epochs per lane.")
    patience: int = option(15, "Early-stopping patience in epochs.")
    out_dir: str = option("runs/task1", "Output folder (results, report, figures, checkpoints).")

    def validate(self) -> None:
        super().validate()
        driver.check_ints("n_blocks", self.n_blocks, low=1)
        driver.check_ints("train_sizes", self.train_sizes, low=1)


#: --quick: with 3 epochs compilation dominates, so each architecture trains in one program.
QUICK = dict(n_blocks=(2,), train_sizes=(40, 80), seeds=(0, 1), max_epochs=3, lane_groups="single")

#: Where the project departs from the study's text (``symjax.report.departures``); --settings=study restores them.
DEPARTURES = (
    Departure("augment_per", "augmentation draw", "one random permutation per batch (ch. 4 §1)", "batch"),
)


def model_name(architecture: str, augment: bool) -> str:
    """'vanilla', False -> 'vanilla'; 'shared', True -> 'shared_aug'."""
    return f"{architecture}_aug" if augment else architecture


def plan_sweeps(opts: Options) -> list[driver.SweepPlan]:
    """One sweep per (n_blocks, architecture), vanilla before shared; the two share n's pool."""
    plans = []
    for n in opts.n_blocks:
        for arch in ARCHITECTURES:
            variants = tuple(model_name(arch, aug) for aug in (False, True) if model_name(arch, aug) in opts.models)
            if variants:
                plans.append(driver.SweepPlan(f"n{n}_{arch}", int(n), arch, variants, pool=int(n)))
    return plans


def load_data(opts: Options) -> None:
    """Task 1 generates its data per pool; nothing to load."""
    return None


def build_pool(opts: Options, plan: driver.SweepPlan, data=None):
    """One pool holding the Table-2 split of every (train size, seed) condition for n = plan.setting.

    Conditions are stacked in the order (train size, seed), each as train, val, test.

    Returns:
      pool_x: (N, n) float32 (float64 with x64), N = sum over conditions of
        train + val + test sizes.
      pool_y: (N, 1) targets f(x) = sum_i phi(x_i). float32 as in make_splits; with
        x64 the inputs are make_splits' float32 values widened to float64 and the
        targets are recomputed in float64 from them.
      index: {(train_size, seed): {'train' | 'val' | 'test': int64 (size,) pool indices}}.
    """
    xs, ys, index, offset = [], [], {}, 0
    for size in opts.train_sizes:
        for seed in opts.seeds:
            splits = sf.make_splits(int(seed), int(size), int(plan.setting))
            index[size, seed] = {}
            for part in ("train", "val", "test"):
                x, y = splits[part]
                if opts.x64:
                    x = x.astype(np.float64)
                    y = sf.set_function(x)[:, None]
                xs.append(x)
                ys.append(y)
                index[size, seed][part] = np.arange(offset, offset + len(x), dtype=np.int64)
                offset += len(x)
    return np.concatenate(xs), np.concatenate(ys), index


def build_lanes(opts: Options, plan: driver.SweepPlan, data, pool) -> list:
    """Lanes of one sweep in the order (train size, seed, augmentation False then True).

    Each lane's batch size is Table 2's for its train size (``split_sizes``), and its
    meta is {task: 1, model, setting: n_blocks, sweep}; the engine adds seed and train_size.
    """
    from symjax.train import Lane  # noqa: PLC0415

    index = pool[2]
    lanes = []
    for size in opts.train_sizes:
        batch_size = sf.split_sizes(int(size))[2]
        for seed in opts.seeds:
            idx = index[size, seed]
            for variant in plan.variants:
                lanes.append(Lane(seed=int(seed), train_idx=idx["train"], val_idx=idx["val"], test_idx=idx["test"],
                                  batch_size=int(batch_size), augment=variant.endswith("_aug"),
                                  meta={"task": NUMBER, "model": variant, "setting": plan.setting,
                                        "sweep": plan.name}))
    return lanes


def lane_fns(opts: Options, plan: driver.SweepPlan, data=None):
    """The set model of the sweep, S_n augmentation and eq. 8 with input base(S_n), output trivial."""
    import jax.numpy as jnp  # noqa: PLC0415

    from symjax import actions, groups  # noqa: PLC0415
    from symjax.models.set_models import set_model  # noqa: PLC0415
    from symjax.tasks import common  # noqa: PLC0415
    from symjax.train import LaneFns  # noqa: PLC0415

    group = groups.symmetric(plan.setting)
    action_in, action_out = actions.base(group), actions.trivial(group, 1)
    spec = set_model(plan.architecture, plan.setting)
    dtype = jnp.float64 if opts.x64 else jnp.float32
    return LaneFns(init=lambda key: spec.init(key, dtype), apply=spec.apply, augment=common.augmentation(action_in),
                   symmetry_error=common.symmetry_error_fn(spec.apply, action_in, action_out))


def engine_sweeps(opts: Options) -> list[tuple]:
    """[(architecture, LaneFns, pool_x, pool_y, lanes)] of every sweep of `opts`, built as the driver builds
    them (for calling the engine directly, e.g. the benchmarks under experiments/)."""
    out = []
    for plan in plan_sweeps(opts):
        pool = build_pool(opts, plan)
        out.append((plan.architecture, lane_fns(opts, plan), pool[0], pool[1], build_lanes(opts, plan, None, pool)))
    return out


def notes(opts: Options, data=None) -> list[str]:
    """Task 1's lines of the report's run section."""
    return ["Data: Table 2 splits per (train size, seed), x uniform per block, y = sum_i phi(x_i) (eq. 21); "
            "batch size per Table 2; Adam, MSE.",
            "Models: vanilla = dense MLP on R^n; shared = S_n set layers + mean over blocks (651 parameters); "
            f"'_aug' adds a uniform permutation of the blocks to every training {opts.augment_per}."]


class SetFunctionTask(driver.Task):
    """Task 1 for the driver; its methods are this module's functions."""

    name, number, script, options, quick, loss = "task1", NUMBER, "experiments/task1.py", Options, QUICK, "mse"
    plan_fields = ("n_blocks", "models")
    labels = {"n_blocks": "n_blocks", "train_sizes": "train sizes", "models": "models"}
    departures = DEPARTURES
    plan_sweeps = staticmethod(plan_sweeps)
    load_data = staticmethod(load_data)
    build_pool = staticmethod(build_pool)
    build_lanes = staticmethod(build_lanes)
    lane_fns = staticmethod(lane_fns)
    notes = staticmethod(notes)


TASK = SetFunctionTask()



def run(opts: Options | None = None, *, command: str | None = None, **changes) -> list[dict]:
    """Task 1 through the driver: ``run(Options(n_blocks=(2,), ...))`` or ``run(n_blocks=(2,), ...)``."""
    opts = dataclasses.replace(opts or Options(), **changes)
    return driver.run(TASK, opts, command=command)
