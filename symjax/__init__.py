"""symjax: symmetry-based parameter sharing for JAX and Flax."""

__version__ = "0.1.0"  # the one place of the version: pyproject.toml reads it ([tool.setuptools.dynamic])
