"""pix2pix-client: translate video files, a webcam and image folders on a pix2pix-stream
server; list its models; check its health. Run ``pix2pix-client SUBCOMMAND --help``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pix2pix_stream.client import exit_codes
from pix2pix_stream.client.config import DEFAULT_SERVER, SERVER_ENV, ClientConfig, server_from_env
from pix2pix_stream.client.errors import ClientError
from pix2pix_stream.client.partial import partial_note

TOKEN_ENV = "PIX2PIX_TOKEN"


def _size(text: str) -> tuple[int, int]:
    from pix2pix_stream.client.frames import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _scale(text: str) -> str:
    from pix2pix_stream.client.frames import scale_text

    try:
        return scale_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=_scale, default="", metavar="engine|native|N",
                   help="size frames are translated at, aspect ratio kept: engine (short side = "
                        "the engine's crop size), native (the frame's own size) or a short side "
                        "of N pixels (default: the server's choice, normally engine)")


def _temporal(text: str) -> str:
    from pix2pix_stream.client.frames import temporal_filter

    try:
        temporal_filter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _level(text: str) -> str:
    """A definite level: "" (the server's choice) is refused, as the web page shows the level."""
    if not text:
        raise argparse.ArgumentTypeError("the page needs a level: off, light or strong")
    return _temporal(text)


def _add_temporal(p: argparse.ArgumentParser, default: str | None = None,
                  default_help: str = "the server's choice, normally off") -> None:
    p.add_argument("--temporal", type=_level if default else _temporal, default=default,
                   metavar="off|light|strong",
                   help="the server's temporal filter: blend each output with the previous one "
                        "moved along the input's motion where the input only moved: less "
                        f"flicker (default: {default_help})")


def _connection_options() -> argparse.ArgumentParser:
    """Options every subcommand takes."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("server connection")
    g.add_argument("--server", default=server_from_env(), metavar="HOST:PORT",
                   help=f"server address (default: ${SERVER_ENV} or {DEFAULT_SERVER}); "
                        "several replicas as A:P,B:P or a dns:///name:port target, "
                        "balanced round robin")
    g.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                   help=f"bearer token, if the server wants one (default: ${TOKEN_ENV})")
    g.add_argument("--tls", action="store_true",
                   help="use TLS, trusting the system's root certificates")
    g.add_argument("--tls-ca", type=Path, metavar="PEM",
                   help="use TLS, trusting this root certificate (implies --tls)")
    g.add_argument("--tls-server-name", metavar="NAME",
                   help="name expected in the server certificate (default: the host name)")
    g.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for a connection before giving up (default 10)")
    g.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="deadline of short calls such as models and health (default 30)")
    g.add_argument("--failovers", type=int, default=3, metavar="N",
                   help="times in a row a stream or video job cut off by a server going away "
                        "resumes on another replica (--server A,B) before giving up (default 3)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = argparse.ArgumentParser(
        prog="pix2pix-client", description=__doc__.split("\n\n")[0],
        epilog=exit_codes.help_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_, description=help_,
                              epilog=exit_codes.help_text(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = add("video", "translate a video file; keeps frame count, rate, timestamps and audio")
    p.add_argument("input", type=Path, help="input video file")
    p.add_argument("output", type=Path, help="output file; the container follows its suffix")
    p.add_argument("--model", required=True, help="engine name (see: pix2pix-client models)")
    p.add_argument("--server-decode", action="store_true",
                   help="send the file to the server, which decodes and encodes it "
                        "(default: decode and encode here, stream frames)")
    p.add_argument("--size", type=_size, metavar="WxH", help="output size (default: the input's)")
    p.add_argument("--side-by-side", action="store_true", help="write input | output")
    p.add_argument("--codec", default="",
                   help="output video encoder (default: by container, libx264; libvpx-vp9 for "
                        ".webm)")
    p.add_argument("--no-audio", action="store_true",
                   help="do not copy the audio (local decoding only)")
    _add_scale(p)
    _add_temporal(p)

    p = add("webcam", "live translation of a camera, a file or a stream URL")
    p.add_argument("--device", default="0",
                   help="camera index, video file or stream URL (default 0)")
    p.add_argument("--model", required=True, help="engine name")
    p.add_argument("--size", type=_size, metavar="WxH", help="output size (default: the capture's)")
    p.add_argument("--show", action="store_true", help="open a window showing input | output")
    p.add_argument("--record", type=Path, metavar="OUT", help="write what is shown to this file")
    p.add_argument("--max-frames", type=int, default=0, metavar="N",
                   help="stop after N translated frames (default: until the source ends)")
    p.add_argument("--duration", type=float, default=0.0, metavar="S", help="stop after S seconds")
    p.add_argument("--jpeg", action="store_true",
                   help="send JPEG instead of raw frames (less bandwidth to a remote server)")
    p.add_argument("--no-realtime", action="store_true",
                   help="translate every frame of a file (lossless mode), as fast as the "
                        "server goes (default: play it at its frame rate, like a camera)")
    _add_scale(p)
    _add_temporal(p)

    p = add("web", "a local web page: your camera, translated live, in the browser")
    p.add_argument("--model", default=None,
                   help="model the page starts with (default: the first the server lists)")
    p.add_argument("--port", type=int, default=8080, help="port of the page (default 8080; 0 = free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    _add_temporal(p, default="off", default_help="off; the page's select changes it")

    p = add("images", "translate every image in a folder")
    p.add_argument("input", type=Path, help="folder of images (png, jpg, bmp, webp, tif)")
    p.add_argument("output", type=Path, help="folder to write the translations to (same names)")
    p.add_argument("--model", required=True, help="engine name")
    p.add_argument("--size", type=_size, metavar="WxH", help="output size (default: each input's)")
    _add_scale(p)

    p = add("models", "list the engines the server has loaded")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = add("health", "check the server's (or one model's) health; exit 0 when serving")
    p.add_argument("--model", default="", help="check this model instead of the whole server")
    return parser


def client_config(args: argparse.Namespace) -> ClientConfig:
    tls = str(args.tls_ca) if args.tls_ca else (True if args.tls else None)
    return ClientConfig(target=args.server, token=args.token or None, tls=tls,
                        tls_server_name=args.tls_server_name,
                        connect_timeout_s=args.connect_timeout, call_timeout_s=args.timeout,
                        max_failovers=args.failovers)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "video" and args.server_decode and args.no_audio:
        parser.error("--no-audio works with local decoding only; the server copies the audio")
    from pix2pix_stream.client import commands
    from pix2pix_stream.client.sync_client import TranslatorClient

    try:
        config = client_config(args)
    except ValueError as exc:
        print(f"pix2pix-client: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    if args.command == "web":  # an asyncio app with its own client, not the sync one
        return commands.web(config, args)
    try:
        with TranslatorClient(config) as client:
            return getattr(commands, args.command)(client, args)
    except KeyboardInterrupt:
        # Commands with an output say what it holds (video); a recording is closed (webcam).
        print("\npix2pix-client: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except (ClientError, RuntimeError) as exc:
        code = exit_codes.for_error(exc)
        if code == exit_codes.FAILED and not isinstance(exc, ClientError):
            raise  # a bug, not an expected failure: keep the traceback
        print(f"pix2pix-client: {exc}", file=sys.stderr)
        if partial_note(exc):
            print(f"pix2pix-client: {partial_note(exc)}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
