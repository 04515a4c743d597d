"""Building TensorRT plans from an engine's ONNX graph (GPU hosts; TensorRT 10.x and 11.x).

Precision comes from the graph: fp16 plans are built from model.fp16.onnx (engines.fp16, made and
checked on any host), and the network is strongly typed, which TensorRT 11 requires (it has no
FP16 builder flag) and TensorRT 10 supports with the STRONGLY_TYPED creation flag. The timing
cache sits beside the plan, so a rebuild on the same GPU takes seconds instead of minutes.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path

from pix2pix_stream.engines.runtime.errors import BackendUnavailableError, ExportError
from pix2pix_stream.engines.runtime.hardware import cuda_device
from pix2pix_stream.engines.runtime.metadata import read_metadata
from pix2pix_stream.engines.runtime.onnx_graph import INPUT_NAME, load_onnx, sha256_file
from pix2pix_stream.engines.runtime.uint8_io import cast_uint8_io
from pix2pix_stream.engines.runtime.tensorrt_plan import plan_file_name, plan_record, timing_cache_name
from pix2pix_stream.engines.runtime.tensorrt_profile import (DEFAULT_MAX_SIZE, BatchProfile,
                                                             profile_shapes, size_profile)

log = logging.getLogger(__name__)


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailableError(
            "TensorRT is not installed: pip install --extra-index-url https://pypi.nvidia.com "
            "'pix2pix-stream[tensorrt]' on a host with an NVIDIA GPU") from exc
    return trt


_logger: tuple[object, object] | None = None  # (tensorrt module, its logger)


def shared_logger(trt, verbose: bool = False):
    """One TensorRT logger per process: TensorRT keeps the first logger it is given and warns
    about every different one passed to a later Builder or Runtime."""
    global _logger
    if _logger is None or _logger[0] is not trt:
        _logger = (trt, trt.Logger(trt.Logger.WARNING))
    logger = _logger[1]
    logger.min_severity = trt.Logger.VERBOSE if verbose else trt.Logger.WARNING
    return logger


def _network_flags(trt) -> int:
    """TensorRT 10: the STRONGLY_TYPED creation flag (value 1 in NvInfer.h, after the deprecated
    EXPLICIT_BATCH's 0). TensorRT 11: none; strongly typed is the only mode and its flag, renumbered
    to 0, is ignored."""
    if int(trt.__version__.split(".")[0]) >= 11:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _parse(trt, builder, logger, onnx_path: Path):
    """Parses the graph after moving its uint8 Casts to the graph's edges (engines.uint8_io):
    engines exported before that rule still build."""
    model = load_onnx(onnx_path)
    cast_uint8_io(model)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.SerializeToString(), str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT cannot parse {onnx_path}: {errors}")
    return network, parser


def _load_timing_cache(config, blob: bytes):
    """config.create_timing_cache(blob), or None where TensorRT refuses the blob: it logs and
    returns None for some damage and raises for other (a truncated or foreign file)."""
    try:
        cache = config.create_timing_cache(blob)
    except Exception as exc:  # noqa: BLE001 - TensorRT's pybind errors have no common type
        log.warning("TensorRT could not read the timing cache (%s)", exc)
        return None
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        return None
    return cache


def _timing_cache(config, cache_path: Path):
    """The timing cache kept beside the plan, attached to ``config``. One TensorRT rejects
    (damaged, or another build's under the same name) is replaced by a fresh one: a cache only
    saves build time, it must never fail a build."""
    blob = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = _load_timing_cache(config, blob)
    if cache is not None:
        return cache
    if blob:
        log.warning("TensorRT rejected the timing cache %s; building with a fresh one", cache_path)
        cache = _load_timing_cache(config, b"")
    if cache is None:
        raise ExportError("TensorRT could not create an empty timing cache")
    return cache


def build_plan(engine_dir: str | os.PathLike, *, profile: BatchProfile = BatchProfile(),
               max_size: tuple[int, int] = DEFAULT_MAX_SIZE, precision: str = "fp16",
               workspace_gib: float | None = None, verbose: bool = False) -> Path:
    """Builds ``model.<precision>.sm<CC>-<gpu>.trt<version>.plan`` in ``engine_dir`` for GPU 0
    and records it in engine.json (artifacts["tensorrt"], replacing a record of the same file).
    ``max_size`` (h, w): the largest frame the plan takes, for engines that take any size."""
    from pix2pix_stream.engines.runtime.model_card import update_metadata
    from pix2pix_stream.engines.runtime.fp16 import FP16_ONNX, add_fp16_artifact

    trt = import_tensorrt()
    engine_dir = Path(engine_dir)
    meta = read_metadata(engine_dir)
    if precision == "fp16":
        if not (engine_dir / FP16_ONNX).is_file():
            add_fp16_artifact(engine_dir, measure=False)
            meta = read_metadata(engine_dir)
        onnx_file = FP16_ONNX
    elif precision == "fp32":
        onnx_file = meta.onnx_file
    else:
        raise ExportError(f"TensorRT plans are fp16 or fp32, not {precision!r}")
    gpu = cuda_device(0)
    cc, gpu_name = gpu["compute_capability"], gpu["name"]
    sizes = size_profile(meta, max_size)
    logger = shared_logger(trt, verbose)
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, builder, logger, engine_dir / onnx_file)
    config = builder.create_builder_config()
    if workspace_gib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    optimisation = builder.create_optimization_profile()
    optimisation.set_shape(INPUT_NAME, *profile_shapes(profile, sizes))
    config.add_optimization_profile(optimisation)
    cache_path = engine_dir / timing_cache_name(cc, gpu_name, trt.__version__)
    cache = _timing_cache(config, cache_path)

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError(f"TensorRT failed to build {engine_dir / onnx_file} (see the log above)")
    plan_path = engine_dir / plan_file_name(cc, gpu_name, trt.__version__, precision)
    plan_path.write_bytes(bytes(plan))
    cache_path.write_bytes(bytes(cache.serialize()))

    record = plan_record(
        file=plan_path.name, trt_version=trt.__version__, compute_capability=cc, gpu=gpu_name,
        precision=precision, profile=profile, sizes=sizes, onnx_file=onnx_file,
        onnx_sha256=sha256_file(engine_dir / onnx_file), timing_cache=cache_path.name,
        built=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    others = [r for r in meta.artifacts.get("tensorrt", []) if r.get("file") != plan_path.name]
    update_metadata(engine_dir, artifacts={**meta.artifacts, "tensorrt": others + [record]})
    return plan_path
