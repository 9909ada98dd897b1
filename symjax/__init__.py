"""symjax: symmetry-based parameter sharing for JAX and Flax."""
