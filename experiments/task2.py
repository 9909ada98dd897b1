"""Task 2 of the study: graph classification on NCI1 (Table 6, Figures 6-7).

    python experiments/task2.py                      # the full grid: hidden 3,5,7 x sizes 500,1500,4110 x 5 models
    python experiments/task2.py --quick              # CI smoke run (a few minutes at most on 2 CPU cores)
    python experiments/task2.py --hidden=3 --seeds=3 --max_epochs=40 --out_dir=runs/task2_h3
    python experiments/task2.py --resume --out_dir=runs/task2   # continue an interrupted run

Writes results.csv, results.jsonl, flags.txt, plan.json, aggregate.csv,
report.md and figures into --out_dir (checkpoints under --out_dir/checkpoints).
Everything else lives in ``symjax.tasks.graph_task``.
"""

import sys

from absl import app, flags, logging

from symjax.tasks import common, graph_task

flags.DEFINE_list("hidden", ["3", "5", "7"], "Hidden settings of Table 3 (3, 5, 7).")
flags.DEFINE_list("data_sizes", ["500", "1500", "4110"], "Data sizes before the 8:1:1 split; 4110 = all graphs.")
flags.DEFINE_integer("max_nodes", 50, "Dense models keep graphs with at most this many nodes (the study: 50).")
flags.DEFINE_string("data_dir", None, "Directory with the NCI1 files (default: search, then download).")
flags.DEFINE_integer("batch_size", 32, "Batch size of every lane (the study gives none for task 2).")
flags.DEFINE_string("aggregation", "mean", "Node pooling of the shared models: mean or sum.")
flags.DEFINE_enum("global_aggregation", "mean", ["mean", "sum"],
                  "Global operators B4, B5 of the graph layers: 'sum' is eq. 16-17 as printed; 'mean' divides them "
                  "by the node count (still exactly equivariant, same parameters). With sums the activations grow "
                  "with the edge count at every layer (hidden setting 7: logits of std ~1e7 at initialisation, "
                  "float32 breaks invariance), so 'mean' is the default.")
flags.DEFINE_integer("eval_batch_size", 256, "Test/validation examples per evaluation chunk (bounds memory).")
flags.DEFINE_boolean("report_only", False, "Rewrite report.md of the run in --out_dir from its results; no "
                     "training (sweeps without results are listed as unfinished).")
flags.DEFINE_integer("stop_after_epochs", 0, "Exit with status 75 after this many epochs in total "
                     "(simulates an interruption, to test --resume); 0 = never.")
common.define_common_flags(max_epochs=250, patience=15)
flags.FLAGS.set_default("models", list(graph_task.MODELS))
flags.FLAGS.set_default("out_dir", "runs/task2")
FLAGS = flags.FLAGS


def options_from_flags() -> graph_task.Options:
    """Options from the parsed flags (--quick replaces the grid by graph_task.QUICK)."""
    opts = graph_task.Options(
        hidden=tuple(common.parse_positive_ints("hidden", FLAGS.hidden)),
        data_sizes=tuple(common.parse_positive_ints("data_sizes", FLAGS.data_sizes)),
        models=tuple(common.parse_models(FLAGS.models, graph_task.MODELS)),
        seeds=tuple(common.parse_seeds(FLAGS.seeds)),
        max_nodes=FLAGS.max_nodes, data_dir=FLAGS.data_dir, batch_size=FLAGS.batch_size,
        max_epochs=FLAGS.max_epochs, patience=FLAGS.patience, early_stopping=FLAGS.early_stopping,
        lr=FLAGS.lr, out_dir=FLAGS.out_dir, resume=FLAGS.resume, checkpoint_every=FLAGS.checkpoint_every,
        sym_samples=FLAGS.sym_samples, x64=FLAGS.x64, quiet=FLAGS.quiet, eval_batch_size=FLAGS.eval_batch_size,
        aggregation=FLAGS.aggregation, global_aggregation=FLAGS.global_aggregation,
        stop_after_epochs=FLAGS.stop_after_epochs, lane_groups=FLAGS.lane_groups)
    if FLAGS.quick:
        opts = graph_task.Options(**{**opts.__dict__, **graph_task.QUICK})
    graph_task.validate_options(opts)
    return opts


def main(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}")
    common.initialize_distributed(FLAGS.distributed)
    try:
        opts = options_from_flags()
    except ValueError as e:
        sys.exit(f"error: {e}")
    try:
        if FLAGS.report_only:
            print(graph_task.report_only(opts, command=graph_task.command_line()))
            return
        graph_task.run(opts, flags_text=FLAGS.flags_into_string(), command=graph_task.command_line())
    except ValueError as e:
        if not str(e).startswith("--"):
            raise
        sys.exit(f"error: {e}")
    except graph_task.Interrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        sys.exit(graph_task.INTERRUPTED_EXIT)


if __name__ == "__main__":
    app.run(main)
