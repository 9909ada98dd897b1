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
