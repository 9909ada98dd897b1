"""symjax.data."""
