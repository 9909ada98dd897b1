"""symjax.nn."""
