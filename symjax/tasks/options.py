"""A task's options: the dataclass every task's options subclass, and its bridge to absl flags.

* ``option(default, help, choices)``: a dataclass field that is also a command-line flag;
* ``CommonOptions``: the options every task takes (a task subclasses it with its own fields and its
  study's defaults) and their validation (``validate``, with ``check_int`` / ``check_ints``);
* ``define_flags``: one absl flag per field, under its heading of --help (science, run, engine:
  ``flag_group``, ``help_text``); ``options_from_flags``: the options back from parsed flags
  (explicit flags, then ``--settings=study``, then ``--quick``, then the defaults; ``parse_seeds`` and the
  list flags' parsing);
* ``options_text``: flags.txt, every option as ``--name=value``;
* ``RUN_CONTROL``: the options that steer a run without changing its numbers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, ClassVar, Mapping

import numpy as np

from symjax.tasks import run_dir
from symjax.tasks.errors import INTERRUPTED_EXIT

if TYPE_CHECKING:
    from symjax.tasks.task import Task

#: Options that say how the lanes are computed (the engine's ``symjax.train.Execution`` and its compilation
#: cache): results agree to rounding whatever they say.
ENGINE_OPTIONS = frozenset({"lane_groups", "compile_cache", "compact_stopped", "max_group_lanes",
                            "cpu_fusion_emitters", "eval_batch_size", "compile_ahead", "cpu_devices",
                            "lane_placement"})
#: Options that steer a run without changing its numbers (left out of a sweep's settings).
RUN_CONTROL = ENGINE_OPTIONS | {"out_dir", "resume", "overwrite", "checkpoint_every", "quiet", "verbose",
                                "distributed", "stop_after_epochs", "report_only"}
#: The headings of --help, in order: every other option (and a script's own flags) is science.
FLAG_GROUPS = ("science: what is trained and measured (the grid, the models, the training, the data)",
               "run: where results go, resuming, output",
               "engine: how the lanes are computed (results agree to rounding)")
#: The flags that print --help (absl's own, which print the flags without the groups: --helpfull).
HELP_FLAGS = ("--help", "-help", "--helpshort", "-helpshort", "-?", "--?")
#: --settings: the project's defaults, or every departure at the study's value (Task.study).
SETTINGS = ("project", "study")


def option(default, help: str, choices: tuple | None = None):
    """A dataclass field that is also a command-line flag (``define_flags``) with this help text."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass(frozen=True)
class CommonOptions:
    """Options every task takes. A task subclasses it with its own fields and its study's defaults.

    ``MODELS`` (class attribute) lists the task's model variants.
    """

    MODELS: ClassVar[tuple] = ()

    models: tuple = option((), "Model variants to train.")
    seeds: tuple = option((0, 1, 2), "A count (3 -> seeds 0,1,2) or a comma list of distinct seeds (0,5,7).")
    max_epochs: int = option(250, "Maximum epochs per lane.")
    patience: int = option(15, "Early-stopping patience in epochs.")
    early_stopping: bool = option(True, "Stop each lane after --patience epochs without improvement.")
    lr: float = option(1e-3, "Adam learning rate.")
    sym_samples: int = option(5, "Group elements per test example for the symmetry error (eq. 8).")
    x64: bool = option(False, "Train in float64 (jax_enable_x64).")
    out_dir: str = option("runs/experiment", "Output folder (results, report, figures, checkpoints).")
    resume: bool = option(False, "Continue the run in --out_dir (finished sweeps are reused).")
    overwrite: bool = option(False, "Replace the run in --out_dir (its checkpoints are deleted).")
    checkpoint_every: int = option(0, "Epochs between checkpoints; 0 = by time, at most one a minute (a sweep "
                                   "shorter than a minute writes none: --resume retrains it).")
    lane_groups: str = option("auto", "How lanes share jitted epoch programs: 'auto' = a few padded shape buckets "
                              "chosen by a cost model of compilation vs padding work (symjax.train.buckets; the "
                              "fastest, docs/benchmarks.md); 'shape' = one program per distinct (batch size, steps "
                              "per epoch), no padding work; 'single' = one padded program per architecture (one "
                              "compilation). Results agree to rounding (the --quick grids bitwise).",
                              ("auto", "shape", "single"))
    compile_cache: str = option("auto", "Persistent XLA compilation cache: 'auto' = $SYMJAX_COMPILE_CACHE, else "
                                "$XDG_CACHE_HOME/symjax/xla, else ~/.cache/symjax/xla; 'off' = none; or a folder. "
                                "Results do not depend on it.")
    compact_stopped: bool = option(True, "Once at most half of a program's lanes still train, continue with a "
                                   "smaller program over those (one compilation); results agree to rounding "
                                   "(XLA may round a program over fewer lanes differently; a resumed run shrinks "
                                   "as the first did).")
    max_group_lanes: int = option(0, "At most this many lanes per jitted program (0 = no limit): bounds the "
                                  "memory of the training step's temporaries for large models, e.g. the MNIST "
                                  "generic weight (0.1 GB per lane); the test evaluation runs in parts of as "
                                  "many lanes.")
    cpu_fusion_emitters: str = option("auto", "XLA:CPU's fusion emitters for the epoch and evaluation programs: "
                                      "'auto' = on for the architectures the task measured faster with them "
                                      "(Task 2's vanilla), off for the rest; 'on'; 'off'. They compile more "
                                      "slowly and speed some models up, others down (docs/benchmarks.md). "
                                      "Results agree to rounding.", ("auto", "on", "off"))
    eval_batch_size: int = option(4096, "Test/validation examples per evaluation chunk (bounds memory).")
    compile_ahead: bool = option(True, "Compile the next sweep's programs on a thread while a sweep trains (its "
                                 "initial state is then held beside the training one's). The programs are the "
                                 "ones the sweep would compile: results do not depend on it.")
    cpu_devices: int = option(0, "CPU devices JAX makes of this host's cores, set before JAX starts (0 = one per "
                              "core this process may use). With several, a sweep's lane groups train on different "
                              "CPU devices at the same time (--lane_placement=auto), each group's program the one "
                              "of a single device: results are bitwise those of --cpu_devices=1. No effect on "
                              "GPU or TPU devices.")
    lane_placement: str = option("auto", "With several devices: 'groups' = each lane group whole on one device, "
                                 "the groups spread over the devices (results bitwise those of one device); "
                                 "'shard' = every group's lanes split over all devices (results agree to "
                                 "rounding); 'auto' = 'groups' on CPU devices, 'shard' on GPUs and TPUs.",
                                 ("auto", "groups", "shard"))
    quick: bool = option(False, "The quick grid (CI, smoke tests); flags given explicitly still win.")
    settings: str = option("project", "'project': every option at its default (the project's choices); 'study': "
                           "every departure from the study's text (the task's DEPARTURES) at the study's value. "
                           "Flags given explicitly still win.", SETTINGS)
    augment_per: str = option("example", "Augmentation draws one group element per training 'example' (the "
                              "project) or one per 'batch' for all its examples (the study, ch. 4 §1: \"매 batch마다 "
                              "임의의 permutation\").", ("example", "batch"))
    quiet: bool = option(False, "No progress output.")
    verbose: bool = option(False, "Show the INFO logging of orbax, jax and absl.")
    distributed: bool = option(False, "Call jax.distributed.initialize() first (multi-host: SLURM, TPU pods; see "
                               "launch/README.md). Each process trains its slice of the lanes.")
    stop_after_epochs: int = option(0, f"Exit with status {INTERRUPTED_EXIT} after this many epochs in total "
                                    "(simulates an interruption, to test --resume); 0 = never.")
    report_only: bool = option(False, "Rewrite report.md of the run in --out_dir from its results; no training.")

    def validate(self) -> None:
        """Raises ValueError naming the flag (--name) for a setting that cannot run; compiles nothing."""
        models = list(self.models)
        unknown = [m for m in models if m not in self.MODELS]
        if not models or unknown or len(set(models)) != len(models):
            raise ValueError(f"--models: expected distinct names from {list(self.MODELS)}, got {models}")
        check_ints("seeds", self.seeds, low=0)
        for name in ("max_epochs", "patience", "sym_samples", "eval_batch_size"):
            check_int(name, getattr(self, name), low=1)
        check_int("checkpoint_every", self.checkpoint_every, low=0)
        check_int("stop_after_epochs", self.stop_after_epochs, low=0)
        check_int("max_group_lanes", self.max_group_lanes, low=0)
        check_int("cpu_devices", self.cpu_devices, low=0)
        if self.lane_placement not in ("auto", "groups", "shard"):
            raise ValueError(f"--lane_placement: expected 'auto', 'groups' or 'shard', got {self.lane_placement!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (
                math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr: expected a finite number > 0, got {self.lr!r}")
        if self.settings not in SETTINGS:
            raise ValueError(f"--settings: expected one of {list(SETTINGS)}, got {self.settings!r}")
        if self.augment_per not in ("example", "batch"):
            raise ValueError(f"--augment_per: expected 'example' or 'batch', got {self.augment_per!r}")
        if self.lane_groups not in ("shape", "single", "auto"):
            raise ValueError(f"--lane_groups: expected 'shape', 'single' or 'auto', got {self.lane_groups!r}")
        if self.cpu_fusion_emitters not in ("auto", "on", "off"):
            raise ValueError(f"--cpu_fusion_emitters: expected 'auto', 'on' or 'off', got "
                             f"{self.cpu_fusion_emitters!r}")
        if not isinstance(self.compile_cache, str) or not self.compile_cache:
            raise ValueError(f"--compile_cache: expected 'auto', 'off' or a folder, got {self.compile_cache!r}")
        if not self.out_dir:
            raise ValueError("--out_dir: expected a folder path, got an empty value")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite: expected at most one of them")


#: The largest integer an option may take: JAX indexes and seeds with int32 (a larger value overflows there).
INT_MAX = 2**31 - 1


def check_int(name: str, value, low: int) -> None:
    """ValueError naming --name unless value is an integer in [low, INT_MAX]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= INT_MAX:
        raise ValueError(f"--{name}: expected an integer in [{low}, {INT_MAX}], got {value!r}")


def check_ints(name: str, values, low: int, allowed=None) -> None:
    """ValueError naming --name unless values is a non-empty tuple or list of distinct integers in [low, INT_MAX]
    (and in ``allowed``)."""
    if not isinstance(values, (tuple, list)):
        raise ValueError(f"--{name}: expected a tuple of integers, got {type(values).__name__} {values!r}")
    values = list(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not low <= v <= INT_MAX
                         for v in values):
        raise ValueError(f"--{name}: expected a non-empty list of integers in [{low}, {INT_MAX}], got {values}")
    if len(set(values)) != len(values):
        raise ValueError(f"--{name}: expected distinct values, got {values}")
    if allowed is not None and any(v not in allowed for v in values):
        raise ValueError(f"--{name}: expected values from {sorted(allowed)}, got "
                         f"{[v for v in values if v not in allowed]} in {values}")


#: The most seeds a count may ask for (--seeds=N); a comma list may name any seeds in [0, INT_MAX].
MAX_SEED_COUNT = 10_000


def parse_seeds(text: str) -> tuple[int, ...]:
    """'3' -> (0, 1, 2); '0,5,7' -> (0, 5, 7). Raises ValueError naming --seeds."""
    text = str(text).strip()
    try:
        if "," in text:
            seeds = tuple(int(s) for s in text.split(",") if s.strip())
        else:
            count = int(text)
            if count > MAX_SEED_COUNT:
                raise ValueError(f"--seeds: expected a count of at most {MAX_SEED_COUNT} seeds, got {text!r}")
            seeds = tuple(range(count))
    except ValueError as error:
        if str(error).startswith("--seeds"):
            raise
        raise ValueError(f"--seeds: expected a count or a comma list of integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds: expected a count >= 1 or non-negative seeds, got {text!r}")
    return seeds


def _parse_list(name: str, values, like) -> tuple:
    """A list flag's strings as a tuple of the type of ``like`` (the field's default elements: int, float or str)."""
    for kind, what in ((int, "integers"), (float, "numbers")):
        if like and all(isinstance(v, kind) for v in like):
            try:
                return tuple(kind(v) for v in values)
            except (TypeError, ValueError):
                raise ValueError(f"--{name}: expected a comma list of {what}, got "
                                 f"{','.join(map(str, values))!r}") from None
    return tuple(str(v) for v in values)


def options_from_flags(task: Task, flag_values, explicit: Mapping | None = None):
    """The task's options from parsed absl flags.

    A field takes, in this order: ``explicit[name]`` (a value the script derived
    from another flag), the flag's value when the user set it, the task's
    ``study`` value with ``--settings=study``, the task's ``quick`` default
    with ``--quick``, the dataclass default. With ``--report_only`` a field no flag sets is the run's own,
    from out_dir's flags.txt. Raises ValueError
    naming the flag; does not validate (``opts.validate()`` does).
    """
    explicit = dict(explicit or {})
    quick = bool(flag_values["quick"].value)
    study = flag_values["settings"].value == "study"
    recorded = {}
    if flag_values["report_only"].value:  # the run's own options, where no flag says otherwise
        recorded = {k: v for k, v in (run_dir.recorded_options(task.options, flag_values["out_dir"].value) or
                                      {}).items() if k not in RUN_CONTROL}
    values = {}
    for field in dataclasses.fields(task.options):
        if field.name in explicit:
            values[field.name] = explicit[field.name]
        elif field.name in recorded and not (field.name in flag_values and flag_values[field.name].present):
            values[field.name] = recorded[field.name]
        elif field.name in flag_values and flag_values[field.name].present:
            value = flag_values[field.name].value
            if field.name == "seeds":
                value = parse_seeds(value)
            elif isinstance(field.default, tuple):
                value = _parse_list(field.name, value, field.default)
            values[field.name] = value
        elif study and field.name in task.study:
            values[field.name] = task.study[field.name]
        elif quick and field.name in task.quick:
            values[field.name] = task.quick[field.name]
    return task.options(**values)


def flag_group(name: str) -> str:
    """The --help heading (an entry of FLAG_GROUPS) of the option ``name``."""
    return FLAG_GROUPS[2] if name in ENGINE_OPTIONS else FLAG_GROUPS[1] if name in RUN_CONTROL else FLAG_GROUPS[0]


def _flag_text(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def define_flags(options_type, flag_values=None, study: Mapping | None = None) -> None:
    """One absl flag per field of ``options_type`` (name, default and help from the dataclass), registered
    under its ``flag_group`` heading; with ``study`` (a Task's ``study`` values), a flag whose option has a
    study's value says it in its help."""
    from absl import flags  # noqa: PLC0415

    flag_values = flags.FLAGS if flag_values is None else flag_values
    study = dict(study or {})
    for field in dataclasses.fields(options_type):
        default, help_text, choices = field.default, field.metadata.get("help", ""), field.metadata.get("choices")
        if field.name in study:
            help_text = f"{help_text} The study's value: {_flag_text(study[field.name])} (--settings=study)."
        where = dict(flag_values=flag_values, module_name=flag_group(field.name))
        if field.name == "seeds":
            text = str(len(default)) if tuple(default) == tuple(range(len(default))) else ",".join(map(str, default))
            flags.DEFINE_string("seeds", text, help_text, **where)
        elif isinstance(default, bool):
            flags.DEFINE_boolean(field.name, default, help_text, **where)
        elif isinstance(default, int):
            flags.DEFINE_integer(field.name, default, help_text, **where)
        elif isinstance(default, float):
            flags.DEFINE_float(field.name, default, help_text, **where)
        elif isinstance(default, tuple):
            flags.DEFINE_list(field.name, [str(v) for v in default], help_text, **where)
        elif choices:
            flags.DEFINE_enum(field.name, default, list(choices), help_text, **where)
        else:
            flags.DEFINE_string(field.name, default, help_text, **where)


def help_text(flag_values, doc: str, script: str) -> str:
    """--help: the script's docstring, then every flag under its FLAG_GROUPS heading (the script's own flags,
    defined in ``script``, under science), each with its help and default, sorted by name."""
    import textwrap  # noqa: PLC0415

    lines = [doc.rstrip(), "", "flags (--helpfull adds absl's own):"]
    for group in FLAG_GROUPS:
        found = flag_values.get_flags_for_module(group)
        if group == FLAG_GROUPS[0]:
            found += flag_values.get_flags_for_module(script)
        lines += ["", f"{group}:"]
        for flag in sorted(found, key=lambda f: f.name):
            name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
            lines += textwrap.wrap(f"{name}: {flag.help}", 100, initial_indent="  ", subsequent_indent="    ")
            lines.append(f"    (default: {_flag_text(flag.default)})")
    return "\n".join(lines) + "\n"


def options_text(opts, command: str | None) -> str:
    """flags.txt: '# <command>' (if known), then every option as --name=value (lists comma-joined)."""
    lines = [f"# {command}"] if command else []
    for field in dataclasses.fields(opts):
        value = getattr(opts, field.name)
        lines.append(f"--{field.name}={','.join(map(str, value)) if isinstance(value, tuple) else value}")
    return "\n".join(lines) + "\n"

