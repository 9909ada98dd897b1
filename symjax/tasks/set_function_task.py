"""Task 1 end to end: the permutation-invariant set function (study ch. 3 §3, ch. 4 §2, Table 5).

For every number of blocks n in ``n_blocks`` and every architecture

* vanilla: dense MLP on x in R^n (``set_model('vanilla', n)``),
* shared:  S_n set layers + mean over blocks (``set_model('shared', n)``, 651 params),

all requested lanes of that architecture (train sizes x seeds x augmentation
off/on) are trained by ONE ``symjax.train.sweep`` call with Adam on the MSE

    L(theta) = 1/B sum_b (f_theta(x_b) - y_b)^2,   y = sum_i phi(x_i)   (eq. 21).

Model names: 'vanilla' / 'shared' train without augmentation, 'vanilla_aug' /
'shared_aug' with it; a name with and without '_aug' share the architecture
and so share the sweep (and, for one seed, the data, the initial parameters
and the shuffles: the lane key depends on the seed only).

Data. Each (seed, train size) condition has its own Table-2 split from
``make_splits(seed, train_size, n)``; the splits of one n are concatenated
into one pool (N, n) / (N, 1) and every lane indexes its own ranges, so the
vanilla and the shared model of one condition see exactly the same data.

Augmentation. For every training example of every batch a uniform g in S_n is
drawn and x is replaced by g . x (the target is invariant): the engine calls
``common.augmentation(actions.base(S_n))`` with one key per example.

Symmetry error (eq. 8). Input action base(S_n), output action trivial(S_n, 1):

    SymErr = mean_{test x} mean_{k < sym_samples} (f(x) - f(g_k . x))^2.

Files in ``out_dir``: results.csv / results.jsonl / flags.txt (rewritten after
every sweep, so finished sweeps survive an interruption), then report.md,
aggregate.csv and the figures (``symjax.report.write_report``).  Training
state goes to ``out_dir/checkpoints/<n>_<architecture>/`` (orbax, every
``checkpoint_every`` epochs) and, once a sweep has finished, its rows and the
settings that produced them to ``done.json`` there.  With ``resume=True`` a
sweep whose done.json matches the current settings is not trained again (its
rows are reused); any other sweep continues from its newest checkpoint (the
engine checks that the checkpoint belongs to the same lanes and data).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

from symjax.data import set_function as sf
from symjax.io import atomic_write_json

TASK = 1
ARCHITECTURES = ("vanilla", "shared")
MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug")
DONE_FILE = "done.json"

# The study's full grid (ch. 4 §1-2, Table 2): what the defaults of experiments/task1.py run.
STUDY_N_BLOCKS = (1, 2, 5, 10, 20)
STUDY_TRAIN_SIZES = tuple(sf.TABLE2)
STUDY_SEEDS = 3
STUDY_MAX_EPOCHS = 250
STUDY_PATIENCE = 15
STUDY_LR = 1e-3
STUDY_SYM_SAMPLES = 5


def model_name(architecture: str, augment: bool) -> str:
    """'vanilla', False -> 'vanilla'; 'shared', True -> 'shared_aug'."""
    return f"{architecture}_aug" if augment else architecture


def augment_flags(models, architecture: str) -> list[bool]:
    """The augmentation settings of ``architecture`` requested by ``models`` ([] if none), False first."""
    return [aug for aug in (False, True) if model_name(architecture, aug) in models]


def check_arguments(n_blocks, train_sizes, models, seeds, max_epochs, patience, lr, checkpoint_every,
                    sym_samples) -> None:
    """Raises ValueError naming the argument (as its command-line flag) for anything that cannot run.

    Cheap (no JAX): experiments/task1.py calls it before anything is compiled.
    """

    def ints(name, values, low):
        values = list(values)
        if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low
                             for v in values):
            raise ValueError(f"--{name}: expected a non-empty list of integers >= {low}, got {values!r}")
        if len(set(values)) != len(values):
            raise ValueError(f"--{name}: expected distinct values, got {values!r}")

    ints("n_blocks", n_blocks, 1)
    ints("train_sizes", train_sizes, 1)
    ints("seeds", seeds, 0)
    models = list(models)
    unknown = [m for m in models if m not in MODELS]
    if not models or unknown:
        raise ValueError(f"--models: expected a non-empty comma list from {list(MODELS)}, got {models!r}")
    if len(set(models)) != len(models):
        raise ValueError(f"--models: expected distinct names, got {models!r}")
    for name, value in (("max_epochs", max_epochs), ("patience", patience), ("checkpoint_every", checkpoint_every),
                        ("sym_samples", sym_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"--{name}: expected an integer >= 1, got {value!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"--lr: expected a finite number > 0, got {lr!r}")


def build_pool(n_blocks: int, train_sizes, seeds, x64: bool = False):
    """One data pool holding the Table-2 split of every (train size, seed) condition for n_blocks.

    Conditions are stacked in the order (train size, seed), each as train, val, test.

    Returns:
      pool_x: (N, n_blocks) float32 (float64 with x64), N = sum over conditions of
        train + val + test sizes.
      pool_y: (N, 1) targets f(x) = sum_i phi(x_i). float32 as in make_splits; with
        x64 the inputs are make_splits' float32 values widened to float64 and the
        targets are recomputed in float64 from them.
      index: {(train_size, seed): {'train' | 'val' | 'test': int64 (size,) pool indices}}.
    """
    xs, ys, index, offset = [], [], {}, 0
    for size in train_sizes:
        for seed in seeds:
            splits = sf.make_splits(int(seed), int(size), int(n_blocks))
            index[size, seed] = {}
            for part in ("train", "val", "test"):
                x, y = splits[part]
                if x64:
                    x = x.astype(np.float64)
                    y = sf.set_function(x)[:, None]
                xs.append(x)
                ys.append(y)
                index[size, seed][part] = np.arange(offset, offset + len(x), dtype=np.int64)
                offset += len(x)
    return np.concatenate(xs), np.concatenate(ys), index


def build_lanes(architecture: str, augments, n_blocks: int, train_sizes, seeds, index):
    """Lanes of one architecture in the order (train size, seed, augmentation False then True).

    Each lane's batch size is Table 2's for its train size (``split_sizes``), and its
    meta is {task: 1, model, setting: n_blocks}; the engine adds seed and train_size.
    """
    from symjax.train import Lane  # noqa: PLC0415 (keeps `import` of this module free of JAX)

    lanes = []
    for size in train_sizes:
        batch_size = sf.split_sizes(int(size))[2]
        for seed in seeds:
            idx = index[size, seed]
            for aug in augments:
                lanes.append(Lane(seed=int(seed), train_idx=idx["train"], val_idx=idx["val"], test_idx=idx["test"],
                                  batch_size=int(batch_size), augment=bool(aug),
                                  meta={"task": TASK, "model": model_name(architecture, aug),
                                        "setting": int(n_blocks)}))
    return lanes


def _read_done(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def flags_text(command, **arguments) -> str:
    """flags.txt: the command line (if known), then every argument of ``run`` as --name=value."""
    lines = [f"# {command}"] if command else []
    for name, value in arguments.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        lines.append(f"--{name}={value}")
    return "\n".join(lines) + "\n"


def grid_differences(n_blocks, train_sizes, models, seeds, max_epochs, patience, lr, early_stopping,
                     sym_samples) -> list[str]:
    """What this run leaves out of, or changes from, the study's full grid (empty: the full grid)."""
    out = []
    missing = [n for n in STUDY_N_BLOCKS if n not in n_blocks]
    if missing:
        out.append(f"n_blocks {', '.join(map(str, missing))} not run (study: {list(STUDY_N_BLOCKS)})")
    extra = [n for n in n_blocks if n not in STUDY_N_BLOCKS]
    if extra:
        out.append(f"n_blocks {', '.join(map(str, extra))} are not in the study")
    missing = [s for s in STUDY_TRAIN_SIZES if s not in train_sizes]
    if missing:
        out.append(f"train sizes {', '.join(map(str, missing))} not run (study: {list(STUDY_TRAIN_SIZES)})")
    extra = [s for s in train_sizes if s not in STUDY_TRAIN_SIZES]
    if extra:
        out.append(f"train sizes {', '.join(map(str, extra))} are not in Table 2")
    if len(seeds) < STUDY_SEEDS:
        out.append(f"{len(seeds)} seed(s) {list(seeds)} instead of {STUDY_SEEDS}")
    missing = [m for m in MODELS if m not in models]
    if missing:
        out.append(f"models {', '.join(missing)} not run")
    if max_epochs != STUDY_MAX_EPOCHS:
        out.append(f"max_epochs {max_epochs} instead of {STUDY_MAX_EPOCHS}")
    if patience != STUDY_PATIENCE:
        out.append(f"patience {patience} instead of {STUDY_PATIENCE}")
    if not early_stopping:
        out.append("early stopping off (study: patience 15)")
    if lr != STUDY_LR:
        out.append(f"learning rate {lr} instead of {STUDY_LR}")
    if sym_samples != STUDY_SYM_SAMPLES:
        out.append(f"{sym_samples} group elements per test example for the symmetry error instead of "
                   f"{STUDY_SYM_SAMPLES}")
    return out


def _run_markdown(command, machine, wall_s, sweep_log, differences, out_dir, x64, resume_command) -> str:
    """The 'How this run was produced' section of report.md."""
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Machine: {machine}.", "",
              f"Wall time of this invocation: {wall_s:.0f} s "
              f"(sum of the sweeps' own wall times: {sum(s['wall_s'] for s in sweep_log):.0f} s). "
              f"Precision: {'float64 (--x64)' if x64 else 'float32'}.", "",
              "| n_blocks | architecture | lanes | epochs trained (max over lanes) | sweep wall s | status |",
              "|---:|---|---:|---:|---:|---|"]
    for s in sweep_log:
        lines.append(f"| {s['n_blocks']} | {s['architecture']} | {s['lanes']} | {s['epochs']} | "
                     f"{s['wall_s']:.0f} | {s['status']} |")
    lines.append("")
    if differences:
        lines += ["**Cut versus the study's full grid** (5 n_blocks x 6 train sizes x 3 seeds x 4 models, "
                  "at most 250 epochs, patience 15):", ""]
        lines += [f"- {d}" for d in differences]
        lines += ["", "The full grid runs with the script's defaults: "
                      "`python experiments/task1.py --out_dir runs/task1_full`."]
        if resume_command:
            lines += ["", f"Only epochs were cut, so the lanes can also be continued from this run's checkpoints "
                          f"(kept in `{out_dir}/checkpoints`, not in the copied report): `{resume_command}`."]
    else:
        lines += ["This run is the study's full grid (5 n_blocks x 6 train sizes x 3 seeds x 4 models, "
                  "at most 250 epochs, patience 15)."]
    return "\n".join(lines)


def _log(quiet: bool, text: str) -> None:
    if not quiet:
        print(f"[task1] {text}", flush=True)


def run(n_blocks=STUDY_N_BLOCKS, train_sizes=STUDY_TRAIN_SIZES, models=MODELS, seeds=(0, 1, 2),
        max_epochs: int = STUDY_MAX_EPOCHS, patience: int = STUDY_PATIENCE, lr: float = STUDY_LR,
        early_stopping: bool = True, out_dir: str = "runs/task1", resume: bool = False,
        checkpoint_every: int = 10, sym_samples: int = STUDY_SYM_SAMPLES, x64: bool = False,
        quiet: bool = False, lane_groups: str = "shape", command: str | None = None) -> list[dict]:
    """Trains Task 1 on the grid n_blocks x train_sizes x seeds x models and writes results and report.

    One sweep per (n_blocks, architecture), in the order of ``n_blocks``, vanilla
    before shared. After each sweep results.csv / results.jsonl / flags.txt in
    ``out_dir`` hold the rows of every sweep so far; at the end report.md and
    figures are written.

    Args:
      n_blocks: list of n >= 1 (input x in R^n, group S_n).
      train_sizes: list of training-set sizes (Table 2 sizes use Table 2's
        val/test/batch sizes; others see ``set_function.split_sizes``).
      models: subset of ('vanilla', 'vanilla_aug', 'shared', 'shared_aug').
      seeds: list of non-negative integer seeds (data split, init, shuffles,
        augmentation and symmetry-error samples of a lane).
      max_epochs, patience, lr, early_stopping, checkpoint_every, sym_samples:
        as in ``symjax.train.TrainConfig``.
      out_dir: output directory.
      resume: reuse finished sweeps and continue the others from their checkpoints.
      x64: train in float64 (turns on jax_enable_x64 before anything is traced).
      quiet: no progress output.
      lane_groups: ``symjax.train.TrainConfig.lane_groups`` (results do not depend on it).
      command: the command line, written to flags.txt and report.md.

    Returns:
      rows: one dict per lane (columns of ``symjax.train.COLUMNS``: task=1,
      model, setting=n_blocks, train_size, seed, test_loss, sym_error, params,
      epochs, best_epoch, diverged, wall_s, ...).

    Raises:
      ValueError: an argument that cannot run (named as its flag), before any compilation.
    """
    n_blocks, train_sizes, seeds, models = list(n_blocks), list(train_sizes), list(seeds), list(models)
    check_arguments(n_blocks, train_sizes, models, seeds, max_epochs, patience, lr, checkpoint_every, sym_samples)
    import jax  # noqa: PLC0415

    if x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: PLC0415

    from symjax import actions, groups  # noqa: PLC0415
    from symjax.models.set_models import set_model  # noqa: PLC0415
    from symjax.report import write_report  # noqa: PLC0415
    from symjax.tasks import common  # noqa: PLC0415
    from symjax.train import LaneFns, TrainConfig, sweep, write_results  # noqa: PLC0415

    start = time.perf_counter()
    dtype = jnp.float64 if x64 else jnp.float32
    arguments = dict(n_blocks=n_blocks, train_sizes=train_sizes, models=models, seeds=seeds, max_epochs=max_epochs,
                     patience=patience, lr=lr, early_stopping=early_stopping, out_dir=out_dir, resume=resume,
                     checkpoint_every=checkpoint_every, sym_samples=sym_samples, x64=x64, quiet=quiet,
                     lane_groups=lane_groups)
    flags = flags_text(command, **arguments)
    os.makedirs(out_dir, exist_ok=True)

    rows: list[dict] = []
    sweep_log: list[dict] = []
    for n in n_blocks:
        group = groups.symmetric(int(n))
        action_in, action_out = actions.base(group), actions.trivial(group, 1)
        pool = None
        for architecture in ARCHITECTURES:
            augments = augment_flags(models, architecture)
            if not augments:
                continue
            settings = {"task": TASK, "n_blocks": int(n), "architecture": architecture,
                        "train_sizes": [int(s) for s in train_sizes], "seeds": [int(s) for s in seeds],
                        "augment": augments, "max_epochs": int(max_epochs), "patience": int(patience),
                        "lr": float(lr), "early_stopping": bool(early_stopping), "sym_samples": int(sym_samples),
                        "x64": bool(x64)}
            ckpt_dir = os.path.join(out_dir, "checkpoints", f"{n}_{architecture}")
            done_path = os.path.join(ckpt_dir, DONE_FILE)
            done = _read_done(done_path) if resume else None
            if done is not None and done.get("settings") == settings:
                rows.extend(done["rows"])
                sweep_log.append({"n_blocks": n, "architecture": architecture, "lanes": len(done["rows"]),
                                  "epochs": max(r["epochs"] for r in done["rows"]),
                                  "wall_s": done["rows"][0]["wall_s"], "status": "finished earlier, reused"})
                _log(quiet, f"n_blocks={n} {architecture}: finished earlier with the same settings; "
                            f"reusing its {len(done['rows'])} rows")
                continue
            if os.path.exists(done_path):
                os.remove(done_path)

            if pool is None:
                pool = build_pool(n, train_sizes, seeds, x64)
            pool_x, pool_y, index = pool
            lanes = build_lanes(architecture, augments, n, train_sizes, seeds, index)
            spec = set_model(architecture, int(n))
            config = TrainConfig(loss="mse", learning_rate=float(lr), max_epochs=int(max_epochs),
                                 patience=int(patience), early_stopping=bool(early_stopping),
                                 checkpoint_dir=ckpt_dir, checkpoint_every=int(checkpoint_every), resume=bool(resume),
                                 sym_samples=int(sym_samples), quiet=bool(quiet), lane_groups=lane_groups)
            progress = {"first": None}

            def on_epoch(epoch, summary, n=n, architecture=architecture, progress=progress):
                if progress["first"] is None:
                    progress["first"] = epoch
                if not quiet and not sys.stdout.isatty() and (epoch % 10 == 0 or epoch == max_epochs):
                    _log(quiet, f"n_blocks={n} {architecture}: epoch {epoch}/{max_epochs}, "
                                f"{int(summary['active'].sum())}/{len(summary['active'])} lanes active, "
                                f"best val loss min {float(np.min(summary['best_val'])):.4g}")

            _log(quiet, f"n_blocks={n} {architecture}: training {len(lanes)} lanes "
                        f"({len(train_sizes)} sizes x {len(seeds)} seeds x {len(augments)} augmentation settings)")
            fns = LaneFns(init=lambda key, spec=spec: spec.init(key, dtype), apply=spec.apply,
                          augment=common.augmentation(action_in),
                          symmetry_error=common.symmetry_error_fn(spec.apply, action_in, action_out))
            sweep_rows = sweep(
                fns, pool_x, pool_y, lanes, config,
                config_fingerprint={"task": TASK, "n_blocks": int(n), "architecture": architecture,
                                    "x64": bool(x64)},
                epoch_callback=on_epoch,
            ).rows
            first = progress["first"]
            if not resume:
                status = "trained"
            elif first is None:
                status = "resumed from a checkpoint with no epoch left to train"
            elif first > 1:
                status = f"resumed at epoch {first}"
            else:
                status = "resume found no checkpoint; trained from scratch"
            atomic_write_json(done_path, {"settings": settings, "rows": sweep_rows}, indent=1)
            rows.extend(sweep_rows)
            sweep_log.append({"n_blocks": n, "architecture": architecture, "lanes": len(sweep_rows),
                              "epochs": max(r["epochs"] for r in sweep_rows), "wall_s": sweep_rows[0]["wall_s"],
                              "status": status})
            write_results(out_dir, rows, flags)
            _log(quiet, f"n_blocks={n} {architecture}: {status}; {len(sweep_rows)} lanes in "
                        f"{sweep_rows[0]['wall_s']:.1f} s; results in {out_dir}/results.csv")

    write_results(out_dir, rows, flags)
    differences = grid_differences(n_blocks, train_sizes, models, seeds, max_epochs, patience, lr, early_stopping,
                                   sym_samples)
    only_epochs = bool(differences) and all(d.startswith("max_epochs") for d in differences)
    resume_command = (f"python experiments/task1.py --seeds={','.join(map(str, seeds))} --out_dir={out_dir} "
                      f"--checkpoint_every={checkpoint_every}{' --x64' if x64 else ''} --resume")
    extra_md = _run_markdown(command, common.machine_description(), time.perf_counter() - start, sweep_log,
                             differences, out_dir, x64, resume_command if only_epochs else None)
    write_report(TASK, rows, out_dir, extra_md=extra_md)
    _log(quiet, f"done in {time.perf_counter() - start:.0f} s: {out_dir}/report.md")
    return rows
