"""symjax.train."""
