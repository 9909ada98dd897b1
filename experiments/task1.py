"""Task 1: permutation-invariant set function f(x) = sum_i phi(x_i) (study Table 5, Figures 4-5).

Trains vanilla / vanilla_aug / shared / shared_aug MLPs for every n_blocks and
Table-2 train size with several seeds (one batched sweep per n_blocks and
architecture) and writes results.csv, results.jsonl, flags.txt, report.md and
figures into --out_dir.

    python experiments/task1.py                       # the study's full grid
    python experiments/task1.py --quick               # tiny grid, < 2 minutes on 2 CPU cores
    python experiments/task1.py --out_dir runs/task1 --resume   # continue an interrupted run

Invalid flags end the script with a one-line error naming the flag (exit code 2)
before anything is compiled.
"""

import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from symjax.data.set_function import TABLE2  # noqa: E402
from symjax.tasks import common  # noqa: E402
from symjax.tasks import set_function_task  # noqa: E402

flags.DEFINE_list("n_blocks", ["1", "2", "5", "10", "20"], "Numbers of blocks n (input x in R^n).")
flags.DEFINE_list("train_sizes", [str(s) for s in TABLE2], "Training-set sizes (Table 2).")
common.define_common_flags(max_epochs=250, patience=15)
FLAGS = flags.FLAGS

# --quick: values used for the flags the command line does not set. With 3 epochs compilation
# dominates, so the quick grid trains each architecture in one program (lane_groups='single').
QUICK = {"n_blocks": ["2"], "train_sizes": ["40", "80"], "seeds": "2", "max_epochs": 3, "lane_groups": "single"}


def _fail(message: str) -> None:
    """One line on stderr, exit code 2."""
    print(f"task1.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def _parse_flags(argv):
    """absl parsing with absl's own errors (unknown flag, bad integer) shortened to one line."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        _fail(str(error).splitlines()[0])


def main(argv):
    if len(argv) > 1:
        _fail(f"unexpected positional arguments {argv[1:]}; every setting is a --flag")
    common.initialize_distributed(FLAGS.distributed)
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint at INFO
    if FLAGS.quick:
        for name, value in QUICK.items():
            if not FLAGS[name].present:
                FLAGS[name].value = value
    try:
        n_blocks = common.parse_positive_ints("n_blocks", FLAGS.n_blocks)
        train_sizes = common.parse_positive_ints("train_sizes", FLAGS.train_sizes)
        models = common.parse_models(FLAGS.models, set_function_task.MODELS)
        seeds = common.parse_seeds(FLAGS.seeds)
        set_function_task.check_arguments(n_blocks, train_sizes, models, seeds, FLAGS.max_epochs, FLAGS.patience,
                                          FLAGS.lr, FLAGS.checkpoint_every, FLAGS.sym_samples)
    except ValueError as error:
        _fail(str(error))
    set_function_task.run(
        n_blocks=n_blocks,
        train_sizes=train_sizes,
        models=models,
        seeds=seeds,
        max_epochs=FLAGS.max_epochs,
        patience=FLAGS.patience,
        lr=FLAGS.lr,
        early_stopping=FLAGS.early_stopping,
        out_dir=FLAGS.out_dir or "runs/task1",
        resume=FLAGS.resume,
        checkpoint_every=FLAGS.checkpoint_every,
        sym_samples=FLAGS.sym_samples,
        x64=FLAGS.x64,
        quiet=FLAGS.quiet,
        lane_groups=FLAGS.lane_groups,
        command=shlex.join(["python", "experiments/task1.py"] + sys.argv[1:]),
    )


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
