"""Exit codes of pix2pix-client: one per kind of failure, so scripts can tell them apart."""
from __future__ import annotations

from pix2pix_stream.client import errors

OK = 0
FAILED = 1            # anything else: a server-side error, a failed health check, ...
USAGE = 2             # bad command line (argparse)
UNREACHABLE = 3       # no connection to the server (refused, timed out, name not resolved)
UNKNOWN_MODEL = 4     # the server has no engine of that name
BAD_INPUT = 5         # input file/dir/device missing or undecodable, or rejected by the server
BAD_OUTPUT = 6        # output path cannot be created or written
AUTH = 7              # token missing or refused
UNSUPPORTED = 8       # a feature this machine lacks (--show with headless OpenCV)
INTERRUPTED = 130     # Ctrl-C (128 + SIGINT); a partial output is closed and playable, or
                      # not written at all (nothing done yet, or a second Ctrl-C)

TABLE = [
    (OK, "success"),
    (FAILED, "other failure (server error, not serving)"),
    (USAGE, "bad command line"),
    (UNREACHABLE, "server unreachable"),
    (UNKNOWN_MODEL, "unknown model"),
    (BAD_INPUT, "unreadable or rejected input"),
    (BAD_OUTPUT, "unwritable output"),
    (AUTH, "authentication refused"),
    (UNSUPPORTED, "feature unavailable here (--show without GUI OpenCV)"),
    (INTERRUPTED, "interrupted by Ctrl-C (partial output closed, playable; or none written)"),
]

_BY_ERROR = [  # first match wins
    (errors.ServerUnavailableError, UNREACHABLE),
    (errors.ModelNotFoundError, UNKNOWN_MODEL),
    (errors.InputFileError, BAD_INPUT),
    (errors.InvalidInputError, BAD_INPUT),
    (errors.OutputFileError, BAD_OUTPUT),
    (errors.AuthError, AUTH),
    (errors.DisplayUnavailableError, UNSUPPORTED),
    (errors.StoppedError, INTERRUPTED),
    (errors.InvalidOptionError, USAGE),
]


def for_error(exc: BaseException) -> int:
    for kind, code in _BY_ERROR:
        if isinstance(exc, kind):
            return code
    return FAILED


def help_text() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:>3}  {what}" for code, what in TABLE)
