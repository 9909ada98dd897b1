"""symjax.models."""
