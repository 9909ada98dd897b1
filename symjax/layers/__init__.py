"""symjax.layers."""
