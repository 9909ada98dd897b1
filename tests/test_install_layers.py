"""The library core imports with its core dependencies alone; the experiment suite's packages load on use.

The core (groups, actions, sharing, functional, layers, nn, discovery, train, metrics) needs jax, flax,
optax, numpy and scipy. absl, orbax, matplotlib and tqdm belong to the ``[experiments]`` extra: importing
the core must not load them. optax and flax.linen import absl themselves, so absl may be present exactly
when it is after importing those dependencies alone; orbax, matplotlib and tqdm never are.
"""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTRAS = ("absl", "orbax", "matplotlib", "tqdm")
CORE = ("symjax", "symjax.groups", "symjax.actions", "symjax.sharing", "symjax.functional", "symjax.metrics",
        "symjax.layers", "symjax.nn.linen", "symjax.nn.nnx", "symjax.discovery", "symjax.train", "symjax.io")


def _loaded_after(*modules: str) -> list[str]:
    """Which of EXTRAS are in sys.modules after a fresh interpreter imports ``modules``."""
    code = (f"import sys\nfor m in {list(modules)!r}: __import__(m)\n"
            f"print(__import__('json').dumps([k for k in {list(EXTRAS)!r} if k in sys.modules]))")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def from_dependencies() -> set[str]:
    """The EXTRAS that the core's own dependencies load by themselves."""
    return set(_loaded_after("jax", "numpy", "scipy.stats", "optax", "flax.linen", "flax.nnx"))


def test_dependencies_load_none_of_orbax_matplotlib_tqdm(from_dependencies):
    assert from_dependencies <= {"absl"}, from_dependencies


def test_core_modules_load_no_experiment_package(from_dependencies):
    # sys.modules only grows, so what all of them load together bounds what each loads alone.
    loaded = set(_loaded_after(*CORE))
    assert loaded <= from_dependencies, f"the core loads {sorted(loaded - from_dependencies)}"


def test_modules_without_flax_load_no_absl():
    assert _loaded_after("symjax", "symjax.groups", "symjax.actions", "symjax.sharing", "symjax.functional",
                         "symjax.discovery") == []


def test_the_check_sees_an_experiment_module():
    """symjax.tasks.progress is experiment-suite code: it loads absl's flags and tqdm."""
    assert {"absl", "tqdm"} <= set(_loaded_after("symjax.tasks.progress"))


def test_task_scripts_load_matplotlib_only_for_the_report():
    """A task script's modules (what ``experiments/task1.py --help`` imports) leave the figures' and
    significance tests' packages unloaded until the report is written (issue 26: import cost)."""
    code = ("import sys\nimport symjax.tasks.driver, symjax.tasks.set_function_task, symjax.tasks.graph_task, "
            "symjax.tasks.three_body_task, symjax.tasks.discovery_task, symjax.report\n"
            "print(__import__('json').dumps([m for m in ('matplotlib', 'scipy.stats') if m in sys.modules]))")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


DRAW = """
import sys, matplotlib
{choose}
before = dict.__getitem__(matplotlib.rcParams, "backend")
import numpy as np
import symjax.report
from symjax.report import discovery_figures, discovery_report, figures, significance, tables, write
after_import = dict.__getitem__(matplotlib.rcParams, "backend")
path = figures.figure5_task1([dict(model="vanilla", setting=1, params_mean=10.0),
                              dict(model="shared", setting=2, params_mean=3.0)], sys.argv[1] + "/f5.png")
figures.figure9_rollouts([dict(title="t", true=np.ones((3, 12)), pred=np.zeros((3, 12)))], sys.argv[1] + "/f9.png")
with open(path, "rb") as f:
    assert f.read(8) == b"\\x89PNG\\r\\n\\x1a\\n"
after_draw = dict.__getitem__(matplotlib.rcParams, "backend")
print(__import__("json").dumps([before == after_import == after_draw, str(after_draw),
                                "matplotlib.pyplot" in sys.modules]))
"""


@pytest.mark.parametrize("choose,backend", [("matplotlib.use('svg')", "svg"), ("", None)])
def test_report_leaves_matplotlib_backend_as_it_was(tmp_path, choose, backend):
    """A notebook's backend (one chosen, or none chosen yet) survives importing symjax.report and drawing."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MPLBACKEND", None)
    out = subprocess.run([sys.executable, "-c", DRAW.format(choose=choose), str(tmp_path)], capture_output=True,
                         text=True, env=env, check=True)
    unchanged, now, pyplot_loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert unchanged and not pyplot_loaded
    if backend is not None:
        assert now == backend


#: symjax's layers from the bottom up: a module may import its own layer and those below, never one above.
LAYERS = {"models": 2, "data": 2, "report": 3, "tasks": 4}  # every other module is the library core (1)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 1) if len(parts) > 1 else 1


def upward_imports(module: str, source: str, is_package: bool = False) -> list[str]:
    """The symjax modules that ``source`` (the text of ``module``) imports from a layer above its own."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's package
                package = module.split(".")[:len(module.split(".")) - node.level + int(is_package)]
                names = [".".join(package + ([node.module] if node.module else []))]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n and n.split(".")[0] == "symjax" and _layer(n) > _layer(module)]
    return found


def test_no_import_runs_back_up_the_layers():
    assert upward_imports("symjax.report.x", "from symjax.tasks.departures import Departure") == ["symjax.tasks.departures"]
    assert upward_imports("symjax.train.x", "from ..report import rows") == ["symjax.report"]
    assert upward_imports("symjax.tasks.x", "from symjax.report import rows\nimport symjax.models") == []
    upward = {}
    for path in pathlib.Path(ROOT, "symjax").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found = upward_imports(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
        if found:
            upward[module] = found
    assert upward == {}
