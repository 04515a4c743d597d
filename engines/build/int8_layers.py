"""Which convolutions of an int8 graph stay float.

Always the generator's first and last (``outermost_layers``). When the graph still misses the
quality bar, a sensitivity search: each other layer is kept float on its own, the graph
re-quantized and measured, and the layers whose float copy gained the most are kept float one by
one until the bar holds or ``MAX_EXTRA_FLOAT`` layers are spent.

Why per layer: int8 error in a U-Net is not spread evenly. On the shipped edges2bunny engine
(Canny edges in, ngf 16) the second convolution alone holds it back: it reads the first layer's
LeakyReLU output of sparse binary edges, whose range uint8 covers coarsely. Kept float, the
graph went from 36.3 to 43.4 dB on training frames; any other single layer moved it by at most
1.9 dB. It is 8 % of the generator's multiply-adds, so the rest of the graph keeps its int8 speed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

QUANTIZED_OPS = ["Conv", "ConvTranspose"]
MAX_EXTRA_FLOAT = 3   # beyond the outermost two; past that int8 gains too little to be worth it

# PSNR in dB of the graph quantized with these layers kept float.
Score = Callable[[list[str]], float]


def quantizable_layers(onnx_path: Path) -> list[str]:
    """The names of the graph's Conv and ConvTranspose nodes, in graph order."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type in QUANTIZED_OPS]


def outermost_layers(layers: list[str]) -> list[str]:
    """Of ``quantizable_layers``, the generator's first convolution and last transposed
    convolution: the layers most sensitive to int8 (they see raw pixels and write the output
    itself) and the cheapest (3 channels on one side), so they stay float. Measured on the
    shipped edges2facades engine: 39.1 dB with every layer int8, 41.5 dB with these two kept
    float."""
    return [layers[0], layers[-1]] if len(layers) > 2 else []


def choose_float_layers(layers: list[str], always_float: list[str], score: Score, bar: float,
                        max_extra: int = MAX_EXTRA_FLOAT) -> tuple[list[str], float]:
    """(layers to keep float, the PSNR with them). ``always_float`` first; more only while the
    PSNR is below ``bar``, most sensitive first (the gain of each one kept float alone). The
    last call of ``score`` is always with the layers returned, so a score that writes the graph
    it measures leaves the chosen graph on disk."""
    scored: list[list[str]] = []

    def measure(float_layers: list[str]) -> float:
        scored.append(list(float_layers))
        return score(float_layers)

    kept = list(always_float)
    db = base = measure(kept)
    if db >= bar or max_extra <= 0:
        return kept, db
    candidates = [layer for layer in layers if layer not in kept]
    alone = {layer: measure(kept + [layer]) for layer in candidates}
    ranked = sorted(candidates, key=lambda layer: alone[layer], reverse=True)
    for count, layer in enumerate(ranked[:max_extra], start=1):
        if alone[layer] <= base:   # float here helps nothing: int8 it stays
            break
        kept.append(layer)
        db = alone[layer] if count == 1 else measure(kept)
        if db >= bar:
            break
    if scored[-1] != kept:   # stopped on a layer measured alone, not the last one measured
        db = measure(kept)
    return kept, db
