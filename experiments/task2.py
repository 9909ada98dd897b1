"""Task 2 of the study: graph classification on NCI1 (Table 6, Figures 6-7).

    python experiments/task2.py                      # the full grid: hidden 3,5,7 x sizes 500,1500,4110 x 5 models
    python experiments/task2.py --quick              # CI smoke run (a few minutes at most on 2 CPU cores)
    python experiments/task2.py --hidden=3 --seeds=3 --max_epochs=40 --out_dir=runs/task2_h3
    python experiments/task2.py --resume --out_dir=runs/task2   # continue an interrupted run

Writes results.csv, results.jsonl, flags.txt, aggregate.csv, report.md and
figures into --out_dir (checkpoints under --out_dir/checkpoints). Invalid
flags end the script with a one-line error naming the flag (exit code 2)
before anything is compiled. Everything but the flags is in symjax.tasks.
"""

from absl import flags

from symjax.tasks import driver
from symjax.tasks.graph_task import TASK

driver.define_flags(TASK.options, study=TASK.study)
FLAGS = flags.FLAGS


def main(argv):
    driver.main(TASK, argv, FLAGS)


if __name__ == "__main__":
    driver.run_script(main)
