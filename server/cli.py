"""pix2pix-serve: serve engine directories over gRPC.

    pix2pix-serve --engines engines/ --port 50051 --backend auto --max-batch 8 --max-delay-ms 5
    pix2pix-serve --engines engines/ --scale native --max-pixels 4096x2160 --max-message-bytes 32MiB

Frames are translated at a size that keeps their aspect ratio (--scale): "engine" (short side =
the engine's crop size, 1280x720 -> 455x256 padded to 512x256), "native" (the frame's own size)
or a short side in pixels; clients may choose per call.

SIGTERM and SIGINT drain: health turns NOT_SERVING, no new calls are accepted, open streams
answer the frames they have read (video jobs run to completion) within --grace-s, then the
process exits 0.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import Field, fields
from pathlib import Path

from pix2pix_stream.engines.runtime.errors import EngineError
from pix2pix_stream.engines.runtime.registry import SPINNING_MODES
from pix2pix_stream.server.config import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_PIXELS, ServerConfig
from pix2pix_stream.server.errors import ServerError
from pix2pix_stream.server.limits import JobLimits
from pix2pix_stream.server.sizes import parse_bytes, parse_pixels

log = logging.getLogger("pix2pix.server")


def _argument(parse):
    """An argparse type from a parser that raises ValueError (argparse then names the option)."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _scale(text: str) -> str:
    from pix2pix_stream.media.geometry import ScalePolicy

    return str(ScalePolicy.parse(text))


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the description's line breaks."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pix2pix-serve", description=__doc__,
        epilog="Environment: PIX2PIX_TOKEN sets --token without putting it on the command line.",
        formatter_class=_HelpFormatter)
    defaults = ServerConfig(engines_dir=Path("."))
    for add_options in (_serving, _batching, _call_limits, _video_jobs, _security, _metrics,
                        _shutdown):
        add_options(p, defaults)
    return p


def _serving(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("serving")
    g.add_argument("--engines", type=Path, required=True,
                   help="a folder of engine directories (or one engine directory) to load")
    g.add_argument("--host", default="[::]", help="address to listen on")
    g.add_argument("--port", type=int, default=50051, help="port to listen on; 0 = a free port")
    g.add_argument("--backend", default=defaults.backend,
                   help="inference backend: auto, onnxruntime, torch, openvino, tensorrt, ...")
    g.add_argument("--scale", type=_argument(_scale), default=defaults.scale,
                   help="compute size when a call does not choose: engine (short side = the "
                        "engine's crop size), native (the frame's own size) or a short side "
                        "in pixels; aspect ratio kept, padded to the engine's multiple")
    g.add_argument("--temporal", default=defaults.temporal, choices=["off", "light", "strong"],
                   help="temporal filter (blend with the previous output along the input's "
                        "motion) for streams and video jobs that do not choose one")
    g.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _batching(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("batching and threads")
    g.add_argument("--max-batch", type=int, default=defaults.max_batch,
                   help="largest batch per inference call")
    g.add_argument("--max-delay-ms", type=float, default=defaults.max_delay_ms,
                   help="longest a frame waits for its batch to fill")
    g.add_argument("--inflight", type=int, default=defaults.inflight_per_stream,
                   help="frames in flight per stream (backpressure)")
    g.add_argument("--inference-threads", type=int, default=None,
                   help="intra-op threads of each backend; unset = the backend's own choice "
                        "(one per core). Fewer than the CPUs leaves a core free, on which a "
                        "LIVE stream's temporal filter works while the frame is in the model "
                        "(less latency) instead of before it")
    g.add_argument("--onnxruntime-spinning", choices=SPINNING_MODES, default=defaults.spinning,
                   help="how ONNX Runtime's threads wait for work: 'always' spins between runs "
                        "too, so a frame starts at once (lowest latency); 'during-runs' sleeps "
                        "as soon as a batch is done, which saved ~3.6 ms of CPU per frame on 2 "
                        "cores at the same fps but can add ~2 ms to a LIVE stream's p50 "
                        "(docs/server.md); 'never' sleeps between ops too (default: %(default)s)")
    g.add_argument("--workers", type=int, default=defaults.worker_threads,
                   help="threads that decode, resize, transform and encode frames")


def _call_limits(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("limits on calls")
    g.add_argument("--max-streams", type=int, default=defaults.max_streams,
                   help="concurrent streams; more get RESOURCE_EXHAUSTED")
    g.add_argument("--max-streams-per-peer", type=int, default=None,
                   help="open streams per client IP (per token with --token); unset = "
                        "--max-streams")
    g.add_argument("--idle-timeout-s", type=float, default=defaults.idle_timeout_s,
                   help="a stream that sends no frame (or upload chunk) for this long ends with "
                        "DEADLINE_EXCEEDED, freeing its slot; 0 = never")
    g.add_argument("--max-message-bytes", type=_argument(parse_bytes),
                   default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="largest gRPC message either way: bytes, or with a unit (32MiB, 64MB)")
    g.add_argument("--max-pixels", type=_argument(parse_pixels), default=DEFAULT_MAX_PIXELS,
                   help="largest frame, input, output or compute size: a pixel count or WxH "
                        "(4096x2160)")


def _video_jobs(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("video jobs (TranslateVideo)")
    g.add_argument("--max-video-bytes", type=_argument(parse_bytes),
                   default=defaults.max_video_bytes,
                   help="largest TranslateVideo upload: bytes, or with a unit (4GiB)")
    for limit in fields(JobLimits):  # the limits are counts, or seconds as a float
        g.add_argument(_flag(limit), type=float if isinstance(limit.default, float) else int,
                       default=getattr(defaults.job_limits, limit.name),
                       help=limit.metadata["help"])
    g.add_argument("--tmp-dir", type=Path, default=None,
                   help="where video uploads and outputs are spooled; unset = $TMPDIR")


def _flag(limit: Field) -> str:
    """The pix2pix-serve flag of a JobLimits field."""
    return limit.metadata["flag"] or "--" + limit.name.replace("_", "-")


def _security(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("security")
    g.add_argument("--tls-cert", type=Path, help="PEM certificate chain (enables TLS with --tls-key)")
    g.add_argument("--tls-key", type=Path, help="PEM private key")
    g.add_argument("--token", default=None,
                   help="require 'authorization: Bearer TOKEN' on every call except health "
                        "and reflection; several tokens comma-separated (one per client)")


def _metrics(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("metrics")
    g.add_argument("--metrics-port", type=int, default=None,
                   help="serve Prometheus metrics on this port (0 = a free port); off when unset")
    g.add_argument("--metrics-host", default=None,
                   help="address the metrics endpoint binds; unset = the --host address "
                        "(metrics are plaintext and unauthenticated)")


def _shutdown(p: argparse.ArgumentParser, defaults: ServerConfig) -> None:
    g = p.add_argument_group("shutdown")
    g.add_argument("--grace-s", type=float, default=defaults.grace_s,
                   help="seconds open calls get to finish on SIGTERM/SIGINT")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    limits = {limit.name: getattr(args, _flag(limit)[2:].replace("-", "_"))  # argparse's dest
              for limit in fields(JobLimits)}
    return ServerConfig(
        engines_dir=args.engines, address=f"{args.host}:{args.port}", backend=args.backend,
        inference_threads=args.inference_threads, spinning=args.onnxruntime_spinning,
        max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, max_streams=args.max_streams,
        inflight_per_stream=args.inflight, max_message_bytes=args.max_message_bytes,
        max_pixels=args.max_pixels, max_video_bytes=args.max_video_bytes, scale=args.scale,
        worker_threads=args.workers, tls_cert=args.tls_cert, tls_key=args.tls_key,
        token=args.token or os.environ.get("PIX2PIX_TOKEN") or None,
        metrics_port=args.metrics_port, grace_s=args.grace_s,
        video_tmp_dir=args.tmp_dir, metrics_host=args.metrics_host, temporal=args.temporal,
        idle_timeout_s=args.idle_timeout_s, max_streams_per_peer=args.max_streams_per_peer,
        job_limits=JobLimits(**limits))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pix2pix_stream.server.app import start_server  # after logging is set up: loading engines logs

    try:
        config = config_from_args(args)
        running = start_server(config)
    except (ServerError, EngineError, OSError) as exc:
        print(f"pix2pix-serve: {exc}", file=sys.stderr)
        return 2
    print(f"pix2pix-serve: listening on port {running.port}"
          + (f", metrics on port {running.metrics_port}" if running.metrics_port is not None else ""),
          file=sys.stderr, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stop.set())
    while not stop.wait(0.5):
        pass
    log.info("signal received: draining for up to %.1fs", config.grace_s)
    running.stop(config.grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
