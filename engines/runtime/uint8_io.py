"""Keeping an engine graph's uint8 input and output next to Casts.

TensorRT accepts uint8 only as a network input that feeds a Cast directly, or as a network output
that a Cast produces: its Shuffle layer (what a Transpose becomes) has no uint8. Engines exported
since this check write ``frames -> Cast -> Transpose`` and ``Transpose -> Cast -> translated``
(engines.graph); older graphs did the layout change on the uint8 tensor. ``cast_uint8_io``
rewrites such a graph by swapping the two data-movement nodes, which changes no value, so a plan
can be built from any engine; ``uint8_io_problems`` says what TensorRT would reject.
"""
from __future__ import annotations

_UINT8 = 2  # onnx.TensorProto.UINT8; kept literal so this module imports nothing heavy


def _is_uint8(value_info) -> bool:
    return value_info.type.tensor_type.elem_type == _UINT8


def _consumers(nodes, name: str) -> list:
    return [n for n in nodes if name in n.input]


def _producer(nodes, name: str):
    return next((n for n in nodes if name in n.output), None)


def uint8_io_problems(model) -> list[str]:
    """Each uint8 graph input consumed by something other than a Cast, and each uint8 graph
    output produced by something other than a Cast, as a sentence."""
    nodes = list(model.graph.node)
    problems = []
    for graph_input in filter(_is_uint8, model.graph.input):
        for node in _consumers(nodes, graph_input.name):
            if node.op_type != "Cast":
                problems.append(f"uint8 input {graph_input.name!r} feeds a {node.op_type} "
                                f"({node.name}), not a Cast")
    for graph_output in filter(_is_uint8, model.graph.output):
        node = _producer(nodes, graph_output.name)
        if node is not None and node.op_type != "Cast":
            problems.append(f"uint8 output {graph_output.name!r} comes from a {node.op_type} "
                            f"({node.name}), not a Cast")
    return problems


def _swap(first, second) -> None:
    """``first -> mid -> second`` becomes ``first.input -> second -> mid -> first -> second.output``
    for two single-input, single-output nodes."""
    source, mid, target = first.input[0], first.output[0], second.output[0]
    second.input[0], second.output[0] = source, mid
    first.input[0], first.output[0] = mid, target


def _reorder(model, before, after) -> None:
    """Puts ``before`` where ``after`` was and vice versa (keeps the node list topological)."""
    nodes = list(model.graph.node)
    i = next(k for k, n in enumerate(nodes) if n is before)
    j = next(k for k, n in enumerate(nodes) if n is after)
    nodes[i], nodes[j] = nodes[j], nodes[i]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def cast_uint8_io(model) -> int:
    """Rewrites ``uint8 input -> Transpose -> Cast`` and ``Cast(to uint8) -> Transpose -> uint8
    output`` in place so that the Casts touch the graph's input and output; returns the number of
    rewrites. Graphs already in that form are left as they are."""
    rewrites = 0
    for graph_input in filter(_is_uint8, model.graph.input):
        for transpose in _consumers(model.graph.node, graph_input.name):
            followers = _consumers(model.graph.node, transpose.output[0])
            if transpose.op_type == "Transpose" and len(followers) == 1 \
                    and followers[0].op_type == "Cast":
                cast = followers[0]
                _swap(transpose, cast)
                _reorder(model, transpose, cast)
                _forget_value_info(model, transpose.input[0])
                rewrites += 1
    for graph_output in filter(_is_uint8, model.graph.output):
        transpose = _producer(model.graph.node, graph_output.name)
        if transpose is None or transpose.op_type != "Transpose":
            continue
        cast = _producer(model.graph.node, transpose.input[0])
        if cast is not None and cast.op_type == "Cast" \
                and len(_consumers(model.graph.node, cast.output[0])) == 1:
            _swap(cast, transpose)
            _reorder(model, cast, transpose)
            _forget_value_info(model, cast.input[0])
            rewrites += 1
    return rewrites


def _forget_value_info(model, name: str) -> None:
    """The tensor ``name`` changed type (uint8 <-> float); drop its stale recorded shape/type."""
    kept = [v for v in model.graph.value_info if v.name != name]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
