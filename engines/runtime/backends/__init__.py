"""Backend implementations, one module each; pix2pix_stream.engines.runtime.registry imports them only when chosen."""
