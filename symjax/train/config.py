"""The two records a sweep is described by: one `Lane` per trained model, one `TrainConfig`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

LOSSES = ("mse", "l1", "cross_entropy")
LANE_GROUPS = ("auto", "shape", "single")
AUGMENT_PER = ("example", "batch")


@dataclasses.dataclass(frozen=True, eq=False)
class Lane:
    """One trained model of a sweep: a seed, a data split and a batch size.

    Attributes:
      seed: the only source of randomness of the lane (init, shuffles,
        augmentation, symmetry-error samples).
      train_idx: int array (n_train,), indices into the data pool.
      val_idx: int array (n_val,), indices into the data pool.
      test_idx: int array (n_test,), indices into the data pool.
      batch_size: examples per training step (the last batch of an epoch may be
        smaller: drop_last=False).
      augment: apply the sweep's augment function to this lane's training batches.
      meta: free columns copied into the lane's result row.
      learning_rate: this lane's Adam learning rate; None = TrainConfig.learning_rate.
        A traced value: lanes with different rates share one program.
      hyper: this lane's named floats for the sweep's penalty function (e.g.
        {'lam': 1e-3}), traced like the learning rate; every lane of a sweep must
        have the same names.
    """

    seed: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray
    batch_size: int
    augment: bool = False
    meta: dict = dataclasses.field(default_factory=dict)
    learning_rate: float | None = None
    hyper: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings shared by all lanes of a sweep.

    Attributes:
      loss: 'mse' or 'l1' (float targets; mean squared or absolute error) or 'cross_entropy'
        (integer labels, logits out).
      learning_rate: Adam learning rate of every lane whose Lane.learning_rate is None.
      max_epochs: upper bound on epochs.
      patience: epochs without validation improvement before a lane stops.
      early_stopping: False trains exactly `max_epochs` epochs and evaluates the
        final params (diverged lanes still use their best params).
      checkpoint_dir: where to save training state; None disables checkpoints.
      checkpoint_every: save every this many epochs.
      keep_checkpoints: number of newest checkpoints kept.
      resume: continue from the newest valid checkpoint in `checkpoint_dir`.
      sym_samples: random keys per test example for `symmetry_error_fn`.
      quiet: no progress bar.
      eval_batch_size: examples per evaluation chunk (bounds memory).
      lane_groups: how lanes are split into jitted epoch programs.
        'auto': shape buckets chosen by a cost model of compilation vs padding
        work for the epochs left to train (symjax.train.buckets): a few
        padded programs for short sweeps, one per shape for long ones.
        'shape': one program per distinct (batch_size, steps per epoch), so no
        lane computes another lane's padding; each group costs one compilation,
        and a group whose lanes have all stopped is skipped.
        'single': one program for all lanes, padded to the largest batch and
        step count (one compilation; best when compilation dominates, e.g.
        a few epochs). Results are the same either way.
      compile_cache: the persistent XLA compilation cache (symjax.train.compile_cache):
        'auto' = $SYMJAX_COMPILE_CACHE, else $XDG_CACHE_HOME/symjax/xla, else
        ~/.cache/symjax/xla; 'off' = none; or a directory. Ignored when JAX
        already has a cache directory. Results do not depend on it.
      compile_workers: programs compiled at once before training starts
        (symjax.train.precompile): 0 = one per CPU core this process may use;
        1 = one after another. Results do not depend on it.
      compact_stopped: once at most half of a group's lanes still train (early
        stopping or divergence), its program is replaced by a smaller one over the
        active lanes only (same batch and step count; compiled then, from the
        persistent cache when it holds it), for the rest of the sweep; the stopped
        lanes' state waits on the host for the evaluation and the checkpoints.
        Only where the time saved over the epochs the active lanes are forecast
        to still run (the epochs left; with early stopping as many as they have
        trained so far, at least `patience`) pays the new program: modelled from
        the program's FLOPs and shape by the backend's `buckets.CostModel` (no
        clock involved, so a run repeats its decisions), or, with
        `compact_min_flops`, FLOPs saved against that. Results agree with
        compaction off to rounding: XLA:CPU may round a program over fewer lanes
        differently (Task 1 at n_blocks=5: 4 of 36 lanes differ by about 1e-7
        relative; bitwise equal on the engine's tests), and early stopping can turn that into another
        stopping epoch (full Task 1 grid: 21 of 360 rows differ). A run resumed
        from a checkpoint shrinks its programs as the uninterrupted run did
        (replayed from the lanes' stopping epochs), so the two stay bitwise equal.
      compact_min_flops: None (the default: price a compaction in modelled seconds,
        above), or the least FLOPs (XLA's count of the programs) a compaction must save.
      max_group_lanes: at most this many lanes per program (0 = no limit): each
        group is cut into near-equal parts, run one after another each epoch
        (parts of equal size share one compiled program). Bounds the memory of
        the programs' temporaries (gradients, new Adam state) for lanes with
        large weights; the state of every lane stays on the device. The test
        evaluation runs in consecutive parts of as many lanes. Results agree to
        rounding, as for compact_stopped.
      cpu_fusion_emitters: compile the epoch and evaluation programs with XLA:CPU's
        fusion emitters (off by default: they compile much more slowly). Whether
        their code runs faster depends on the model (docs/benchmarks.md: Task 2's
        vanilla epochs 23 % faster, its shared ones 15 % slower, Task 1's no
        faster); for long CPU runs of a model where they pay. Results agree to
        rounding. No effect on other backends.
      augment_per: how augment lanes draw group elements. 'example': every
        training example its own (key fold_in(epoch key, position in the
        epoch)); 'batch': one per training batch, applied to all its examples
        (key fold_in(epoch key, step)), as in the study (ch. 4 §1: "학습 시
        매 batch마다 임의의 permutation을 가하는 방식으로 구현하였다").
    """

    loss: str
    learning_rate: float = 1e-3
    max_epochs: int = 250
    patience: int = 15
    early_stopping: bool = True
    checkpoint_dir: str | None = None
    checkpoint_every: int = 10
    keep_checkpoints: int = 3
    resume: bool = False
    sym_samples: int = 5
    quiet: bool = False
    eval_batch_size: int = 4096
    lane_groups: str = "auto"
    compile_cache: str = "auto"
    compile_workers: int = 0
    augment_per: str = "example"
    compact_stopped: bool = True
    compact_min_flops: float | None = None
    max_group_lanes: int = 0
    cpu_fusion_emitters: bool = False

    def __post_init__(self):
        """The learning rate is checked here, at construction (every other field when a sweep starts:
        ``symjax.train.validate.validate_config``): an infinite or NaN rate would train to NaN silently."""
        check_learning_rate(self.learning_rate)


def check_learning_rate(value) -> None:
    """ValueError naming TrainConfig.learning_rate unless value is a finite real number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(value) and value > 0):
        raise ValueError(f"TrainConfig.learning_rate: expected a finite number > 0, got {value!r}")
