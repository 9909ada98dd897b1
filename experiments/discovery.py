"""The five discovery experiments of reference 001 (§3.1-3.3), each from one command.

    python experiments/discovery.py --experiment=set_sum          # set_sum | translation_1d | translation_2d
    python experiments/discovery.py --experiment=degree --quick   #   | mnist | degree; --quick: tiny (CI)
    python experiments/discovery.py --experiment=mnist --out_dir runs/mnist --resume   # continue a run

Each experiment trains side by side the reference's generic model (its penalty
at every λ of --lams), the soft orbit_tie model at every λ, the hard-shared
model (symjax's orbit engine) and the baseline (DeepSets / CNN / GCN), for
every seed and training-set size, one batched sweep per model, and writes
results.csv, results.jsonl, flags.txt, report.md and figures into --out_dir.
The defaults are the reference's settings (see symjax/tasks/discovery_task.py).

Invalid flags, data or MNIST files end the script with a one-line error naming
the flag or file (exit code 2) before anything is compiled.
"""

from absl import flags

from symjax.tasks import driver
from symjax.tasks.discovery_task import TASKS, Options

driver.define_flags(Options)
FLAGS = flags.FLAGS


def main(argv):
    driver.main(TASKS[FLAGS.experiment], argv, FLAGS)


if __name__ == "__main__":
    driver.run_script(main)
