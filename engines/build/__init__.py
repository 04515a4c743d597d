"""Build time: export checkpoints to engine directories, quantize, import official weights."""
