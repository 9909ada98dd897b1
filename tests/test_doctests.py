"""The docstring examples (``>>>``) of the library run and print what they show."""

import doctest
import importlib

import pytest

MODULES = (
    "symjax.groups", "symjax.actions", "symjax.sharing", "symjax.functional", "symjax.metrics",
    "symjax.discovery", "symjax.discovery.checks", "symjax.discovery.patterns", "symjax.discovery.penalties",
    "symjax.discovery.presets", "symjax.discovery.projection", "symjax.discovery.scores",
    "symjax.discovery.shifts", "symjax.discovery.tree", "symjax.nn.linen", "symjax.nn.nnx",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (printed above)"
