"""Task 3 (study ch. 4 §4, Table 7, Figures 8-9): three-body next-state prediction, S_2 swapping particles 1 and 2.

    python experiments/task3.py                              # the study's full grid: all three model sizes
    python experiments/task3.py --model_size=large           # one model size (same as --model_sizes=large)
    python experiments/task3.py --quick                      # CI-sized smoke run

Runs unchanged on CPU, GPU or TPU: the lanes of each sweep are sharded over
the local devices. Writes results.csv/jsonl, flags.txt, report.md,
aggregate.csv, Figure 8 and a rollout figure (Figure 9) per model size to
--out_dir. See symjax/tasks/three_body_task.py.
"""

from absl import flags

from symjax.tasks import driver
from symjax.tasks.three_body_task import MODEL_SIZES, TASK, model_sizes_flag

driver.define_flags(TASK.options, study=TASK.study)
flags.DEFINE_enum("model_size", None, list(MODEL_SIZES), "One model size: short for --model_sizes=<size>.")
FLAGS = flags.FLAGS


def main(argv):
    try:
        explicit = model_sizes_flag(FLAGS)
    except ValueError as error:
        driver.exit_with_error(TASK.script, str(error))
    driver.main(TASK, argv, FLAGS, explicit=explicit)


if __name__ == "__main__":
    driver.run_script(main)
