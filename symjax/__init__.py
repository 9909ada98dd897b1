"""symjax: symmetry-based parameter sharing for JAX and Flax."""

__version__ = "0.1.0"  # the version in pyproject.toml (tests/test_driver.py checks they agree)
