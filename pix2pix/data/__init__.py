"""Paired training data: aligned A|B images, folders A/ and B/, or a video plus an input
transform; the paper's jitter; a deterministic validation split."""
from pix2pix_stream.pix2pix.data.dataset import (DataConfig, PairDataset, build_datasets, eval_dataset,
                                  split_indices, to_tensor, to_uint8)
from pix2pix_stream.pix2pix.data.jitter import Jitter, default_load_size
from pix2pix_stream.pix2pix.data.sources import DATA_MODES, DIRECTIONS, resolve_data

__all__ = ["DataConfig", "PairDataset", "build_datasets", "eval_dataset", "split_indices",
           "to_tensor", "to_uint8", "Jitter", "default_load_size", "DATA_MODES", "DIRECTIONS",
           "resolve_data"]
