"""Backend implementations, one module each; engines.registry imports them only when chosen."""
