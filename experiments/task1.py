"""Task 1: permutation-invariant set function f(x) = sum_i phi(x_i) (study Table 5, Figures 4-5).

Trains vanilla / vanilla_aug / shared / shared_aug MLPs for every n_blocks and
Table-2 train size with several seeds (one batched sweep per n_blocks and
architecture) and writes results.csv, results.jsonl, flags.txt, report.md and
figures into --out_dir.

    python experiments/task1.py                       # the study's full grid
    python experiments/task1.py --quick               # tiny grid, < 2 minutes on 2 CPU cores
    python experiments/task1.py --out_dir runs/task1 --resume   # continue an interrupted run

Invalid flags end the script with a one-line error naming the flag (exit code 2)
before anything is compiled. Everything but the flags is in symjax.tasks.
"""

from absl import flags

from symjax.tasks import driver
from symjax.tasks.set_function_task import TASK

driver.define_flags(TASK.options, study=TASK.study)
FLAGS = flags.FLAGS


def main(argv):
    driver.main(TASK, argv, FLAGS)


if __name__ == "__main__":
    driver.run_script(main)
