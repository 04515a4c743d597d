"""Engines: export generators to engine directories and run them.

Light modules (safe for the server, no heavy imports): registry, backend, metadata, transforms,
errors, tensorrt_plan, hardware, presets. Heavy ones, imported only when used: export, graph,
official, fp16, int8, quality (numpy only), tensorrt_build, backends.*. See docs/engines.md.
"""
