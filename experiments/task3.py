"""Task 3 (study ch. 4 §4, Table 7, Figures 8-9): three-body next-state prediction, S_2 swapping particles 1 and 2.

    python experiments/task3.py --model_size=large           # full grid of one model size
    python experiments/task3.py --quick                      # CI-sized smoke run

Runs unchanged on CPU, GPU or TPU: the lanes of each architecture are sharded
over the local devices. Writes results.csv/jsonl, flags.txt, report.md,
aggregate.csv, Figure 8 and the rollout figure (Figure 9) to --out_dir
(default runs/task3/<model_size>). See symjax/tasks/three_body_task.py.
"""

from __future__ import annotations

import shlex
import sys

from absl import app, flags

from symjax.tasks import common, three_body_task

flags.DEFINE_enum("model_size", "small", list(three_body_task.MODEL_SIZES), "Model size of Table 4.")
flags.DEFINE_list("data_sizes", ["1000", "5000", "20000", "40000"],
                  "Training + validation pairs (Table 4 sizes), split 8:2.")
flags.DEFINE_enum("medium_shared_widths", "divide", list(three_body_task.MEDIUM_SHARED_WIDTHS),
                  "Shared medium block widths: 'divide' (widths / 3, 11080 params) or 'thesis' (7528 params).")
flags.DEFINE_integer("rollout_steps", 50, "Model steps (x 10 simulator steps) of each rollout.")
flags.DEFINE_integer("rollout_trajectories", 5, "Test trajectories whose initial states start the rollouts.")
common.define_common_flags(max_epochs=400, patience=20)
flags.FLAGS["quick"].help = (
    "CI grid: data size 1000, seeds 0,1, 3 epochs, 2 rollout trajectories, and fewer, shorter simulated "
    "trajectories (11 training + 5 test trajectories of 1000 steps); overrides --data_sizes, --seeds, "
    "--max_epochs and --rollout_trajectories.")

FLAGS = flags.FLAGS
FLAG_NAMES = ("model_size", "data_sizes", "medium_shared_widths", "rollout_steps", "rollout_trajectories", "models",
              "seeds", "max_epochs", "patience", "early_stopping", "lr", "out_dir", "resume", "checkpoint_every",
              "sym_samples", "x64", "quick", "quiet", "lane_groups")


def _flag_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def main(argv):
    if len(argv) > 1:
        sys.exit(f"task3.py: error: unexpected arguments {argv[1:]}")
    common.initialize_distributed(FLAGS.distributed)
    try:
        options = dict(
            model_size=FLAGS.model_size,
            data_sizes=common.parse_positive_ints("data_sizes", FLAGS.data_sizes),
            models=common.parse_models(FLAGS.models, three_body_task.MODELS),
            seeds=common.parse_seeds(FLAGS.seeds),
            max_epochs=FLAGS.max_epochs,
            patience=FLAGS.patience,
            checkpoint_every=FLAGS.checkpoint_every,
            sym_samples=FLAGS.sym_samples,
            lr=FLAGS.lr,
            medium_shared_widths=FLAGS.medium_shared_widths,
            rollout_steps=FLAGS.rollout_steps,
            rollout_trajectories=FLAGS.rollout_trajectories,
            quick=FLAGS.quick,
        )
        # --quick replaces the grid flags (see its help); run() checks again, this fails before anything compiles.
        three_body_task.check_options(**(dict(options, **three_body_task.QUICK_GRID) if FLAGS.quick else options))
    except ValueError as error:
        sys.exit(f"task3.py: error: {error}")
    out_dir = FLAGS.out_dir or f"runs/task3/{FLAGS.model_size}"
    flags_text = "".join(f"--{name}={_flag_text(FLAGS[name].value)}\n" for name in FLAG_NAMES)
    three_body_task.run(**options, early_stopping=FLAGS.early_stopping, out_dir=out_dir, resume=FLAGS.resume,
                        x64=FLAGS.x64, quiet=FLAGS.quiet, lane_groups=FLAGS.lane_groups, flags_text=flags_text,
                        command=shlex.join(["python", "experiments/task3.py", *sys.argv[1:]]))


if __name__ == "__main__":
    app.run(main)
