"""The README's 'Learning a symmetry from data' example (experiments/discovery_flax_example.py) runs and finds S_n."""

import importlib.util
import pathlib

import pytest

PATH = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "discovery_flax_example.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("discovery_flax_example", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("framework", ["linen", "nnx"])
def test_soft_sharing_example_ranks_s_n_first(example, framework):
    train = example.train_linen if framework == "linen" else example.train_nnx
    kernel, mse = train(steps=400, lam=10.0)
    rows = example.rank(kernel)
    assert rows[0]["name"] == f"S_{example.N} invariant", rows
    assert rows[0]["score"] < 1e-3 and mse < 0.05


def test_without_the_penalty_the_kernel_is_not_shared(example):
    kernel, _ = example.train_linen(steps=50, lam=0.0)
    row = next(r for r in example.rank(kernel) if r["name"] == f"S_{example.N} invariant")
    assert row["score"] > 0.5


def test_readme_snippet_runs_and_ranks_s_n_first():
    readme = (PATH.parents[1] / "README.md").read_text()
    section = readme.index("## Learning a symmetry from data")
    start = readme.index("```python", section) + len("```python")
    namespace = {}
    exec(readme[start:readme.index("```", start)].replace("print(", "(lambda *a: None)("), namespace)
    assert namespace["rows"][0]["name"] == "S_5 invariant"
