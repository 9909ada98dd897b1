"""The records a sweep is described by: one `Lane` per trained model, one `TrainConfig` (what is trained; how it
runs is its `execution`, a `symjax.train.execution.Execution`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from symjax.train.execution import Execution

LOSSES = ("mse", "l1", "cross_entropy")
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
    """Training settings shared by all lanes of a sweep: what is trained and measured.

    Attributes:
      loss: 'mse' or 'l1' (float targets; mean squared or absolute error) or 'cross_entropy'
        (integer labels, logits out).
      learning_rate: Adam learning rate of every lane whose Lane.learning_rate is None.
      max_epochs: upper bound on epochs.
      patience: epochs without validation improvement before a lane stops.
      early_stopping: False trains exactly `max_epochs` epochs and evaluates the
        final params (diverged lanes still use their best params).
      checkpoint_dir: where to save training state; None disables checkpoints.
      checkpoint_every: save every this many epochs; 0 = by time: after an epoch that ends at least
        `checkpoint_seconds` after the sweep's previous save (or its start), so short sweeps never pay for one.
      checkpoint_seconds: the interval of checkpoint_every=0.
      keep_checkpoints: number of newest checkpoints kept.
      resume: continue from the newest valid checkpoint in `checkpoint_dir`.
      sym_samples: random keys per test example for `symmetry_error_fn`.
      quiet: no progress bar.
      augment_per: how augment lanes draw group elements. 'example': every
        training example its own (key fold_in(epoch key, position in the
        epoch)); 'batch': one per training batch, applied to all its examples
        (key fold_in(epoch key, step)), as in the study (ch. 4 §1: "학습 시
        매 batch마다 임의의 permutation을 가하는 방식으로 구현하였다").
      execution: how the lanes run (``symjax.train.execution.Execution``: lane groups, compaction, lanes
        per program, compile workers, XLA:CPU's fusion emitters, evaluation chunks); results agree to
        rounding whatever it says. The persistent compilation cache is the application's
        (``symjax.train.compile_cache.use``), not the sweep's.
    """

    loss: str
    learning_rate: float = 1e-3
    max_epochs: int = 250
    patience: int = 15
    early_stopping: bool = True
    checkpoint_dir: str | None = None
    checkpoint_every: int = 10
    checkpoint_seconds: float = 60.0
    keep_checkpoints: int = 3
    resume: bool = False
    sym_samples: int = 5
    quiet: bool = False
    augment_per: str = "example"
    execution: Execution = dataclasses.field(default_factory=Execution)

    def tuned(self, **changes) -> "TrainConfig":
        """This config with the execution fields ``changes`` replaced, e.g. ``config.tuned(lane_groups='shape')``."""
        return dataclasses.replace(self, execution=dataclasses.replace(self.execution, **changes))

    def __post_init__(self):
        """The learning rate is checked here, at construction (every other field when a sweep starts:
        ``symjax.train.validate.validate_config``): an infinite or NaN rate would train to NaN silently."""
        check_learning_rate(self.learning_rate)


def check_learning_rate(value) -> None:
    """ValueError naming TrainConfig.learning_rate unless value is a finite real number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(value) and value > 0):
        raise ValueError(f"TrainConfig.learning_rate: expected a finite number > 0, got {value!r}")
