"""Who may open a stream: the global --max-streams, a per-peer cap (per client IP, or per token
when the server checks tokens) and the drain. Every refusal is counted by reason
(``pix2pix_streams_refused{method, reason}``), so an operator sees why clients were turned
away: the server was full, one peer held its share, or the server was draining.

The per-peer cap keeps one client (or a handful of idle streams it left open) from holding every
slot: with ``--max-streams 4 --max-streams-per-peer 2`` a second client still gets in. Peers are
keyed by IP without the port (a client opening many connections is still one peer)."""
from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass

from pix2pix_stream.server.auth import presented_token, split_tokens, token_fingerprint
from pix2pix_stream.server.errors import ShuttingDownError, TooManyStreamsError


def peer_host(peer: str) -> str:
    """``ipv4:127.0.0.1:5555`` -> ``127.0.0.1``; ``ipv6:[::1]:5555`` -> ``::1``."""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return peer
    return rest.rpartition(":")[0].strip("[]")


@dataclass
class Ticket:
    method: str
    key: str


class Admission:
    def __init__(self, max_streams: int, per_peer: int, token: str | None, metrics,
                 draining: asyncio.Event):
        self._max = max_streams
        self._per_peer = per_peer
        self._tokens = bool(split_tokens(token))
        self._metrics = metrics
        self._draining = draining
        self._open = 0
        self._by_key: collections.Counter = collections.Counter()
        self._empty = asyncio.Event()
        self._empty.set()

    def key_for(self, context) -> str:
        """Per token when tokens are on (the interceptor already checked it), else per IP."""
        if self._tokens:
            token = presented_token(context.invocation_metadata())
            if token is not None:
                return token_fingerprint(token)
        return peer_host(context.peer())

    def admit(self, method: str, context) -> Ticket:
        if self._draining.is_set():
            self._refuse(method, "draining")
            raise ShuttingDownError("server is shutting down")
        if self._open >= self._max:
            self._refuse(method, "max_streams")
            raise TooManyStreamsError(f"{self._open} streams are open, the server's limit is "
                                      f"{self._max}; retry later", "max_streams")
        key = self.key_for(context)
        if self._by_key[key] >= self._per_peer:
            self._refuse(method, "per_peer")
            who = "this token" if key.startswith("token:") else "this client address"
            raise TooManyStreamsError(f"{self._by_key[key]} streams of {who} are open, the "
                                      f"server's per-peer limit is {self._per_peer}; close one "
                                      f"or retry later", "per_peer")
        self._open += 1
        self._empty.clear()
        self._by_key[key] += 1
        self._metrics.active_streams.labels(method).inc()
        return Ticket(method, key)

    def release(self, ticket: Ticket) -> None:
        self._open -= 1
        if self._open == 0:
            self._empty.set()
        self._by_key[ticket.key] -= 1
        if self._by_key[ticket.key] <= 0:
            del self._by_key[ticket.key]
        self._metrics.active_streams.labels(ticket.method).dec()

    def _refuse(self, method: str, reason: str) -> None:
        self._metrics.streams_refused.labels(method, reason).inc()

    @property
    def open_streams(self) -> int:
        return self._open

    async def wait_until_empty(self) -> None:
        """Returns once no stream is open (at once when none is)."""
        await self._empty.wait()
