"""pyproject.toml: the version in one place, the extras the README and launch/README.md name, LICENSE, py.typed."""

import ast
import os
import tomllib

import symjax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _read(*parts: str) -> str:
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_version_is_read_from_symjax_init():
    meta = _pyproject()
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "symjax.__version__"}
    # setuptools reads the attribute statically: the literal assigned in symjax/__init__.py is the version.
    tree = ast.parse(_read("symjax", "__init__.py"))
    (literal,) = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                  and [t.id for t in node.targets] == ["__version__"]]
    assert literal == symjax.__version__


def test_extras_split_the_core_from_the_experiment_suite():
    meta = _pyproject()
    names = lambda reqs: {r.split("[")[0].split(">")[0].split("=")[0].strip() for r in reqs}  # noqa: E731
    core = names(meta["project"]["dependencies"])
    extras = meta["project"]["optional-dependencies"]
    assert {"jax", "flax", "optax", "numpy", "scipy"} <= core
    assert not core & {"absl-py", "orbax-checkpoint", "matplotlib", "tqdm", "chex"}
    assert names(extras["experiments"]) == {"absl-py", "orbax-checkpoint", "matplotlib", "tqdm"}
    assert f"{meta['project']['name']}[experiments]" in extras["dev"] and "pdoc" in names(extras["dev"])
    assert extras["gpu"][0].startswith("jax[cuda12]")
    assert "pip install -e \".[dev,gpu]\"" in _read("launch", "README.md")


def test_license_and_py_typed_ship():
    meta = _pyproject()
    assert meta["project"]["license"] == {"text": "Apache-2.0"}
    text = _read("LICENSE")
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert os.path.isfile(os.path.join(ROOT, "symjax", "py.typed"))
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["symjax"]


def test_api_reference_builds_with_the_readme_command(tmp_path):
    """The README's pdoc command writes into the git-ignored docs/api/; run here into tmp_path instead."""
    import re
    import subprocess
    import sys

    (command,) = re.findall(r"^python3 -m pdoc .*$", _read("README.md"), flags=re.M)
    args = command.split()
    assert args[args.index("-o") + 1] == "docs/api" and "/docs/api/" in _read(".gitignore").splitlines()
    args[args.index("-o") + 1] = str(tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, *args[1:]], cwd=ROOT, env=env, check=True, capture_output=True)
    page = (tmp_path / "symjax" / "sharing.html").read_text(encoding="utf-8")
    assert "orbit_index_map" in page and "index_map.tolist(), k" in page  # a function and its docstring example
    assert "rank_symmetries" in (tmp_path / "symjax" / "discovery.html").read_text(encoding="utf-8")
