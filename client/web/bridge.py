"""One page's WebSocket, bridged to a live Translate stream of the gRPC service.

Newest frame wins on this side too: the page sends a frame only once the previous one came back
or was dropped, and the bridge keeps at most one frame waiting (a newer one replaces it and the
page is told the older one was dropped), so nothing queues up when the server or the network is
slow. Text messages to the page (JSON, ``type``):

    models  {"models": [...], "selected": name}   what ListModels reports, and the model in use
    temporal {"level": ...}                      the temporal filter in use: off | light | strong
    state   {"state": ..., "message": ...}        connecting | live | unreachable | model-gone |
                                                  auth | error
    health  {"status": ...}                       SERVING, NOT_SERVING, ... or UNREACHABLE
    drop    {"ids": [...]}                        frames that will get no answer

From the page: binary frames (wire.py), ``{"type": "model", "name": ...}`` to switch model and
``{"type": "temporal", "level": ...}`` to switch the server's temporal filter (docs/temporal.md);
either restarts the stream. An unknown level, or a text message that is not a JSON object, is
refused with an ``error`` state, and the stream carries on as it was."""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from pix2pix_stream.client.async_client import AsyncTranslatorClient
from pix2pix_stream.client.errors import (AuthError, ClientError, InvalidInputError,
                                          ModelNotFoundError, ServerUnavailableError)
from pix2pix_stream.client.frames import TEMPORAL_FILTERS, ModelInfo, now_us
from pix2pix_stream.client.web import wire

log = logging.getLogger("pix2pix.web")

# The page's state for each kind of failure.
_STATES = [(AuthError, "auth"), (ModelNotFoundError, "model-gone"),
           (ServerUnavailableError, "unreachable"), (ClientError, "error")]


@dataclass(frozen=True)
class BridgeTimings:
    health_every_s: float = 2.0   # how often the page's health line is refreshed
    retry_every_s: float = 1.0    # how soon a failed stream is tried again
    probe_timeout_s: float = 2.0  # how long one connection check or health call may take


@dataclass
class _Waiting:
    id: int            # the page's frame number
    jpeg: bytes
    received: float    # time.perf_counter() when it arrived


class NewestFrame:
    """The one frame waiting to be sent. ``put`` returns the id of the frame it replaced (now
    dropped), if any; ``take`` waits for a frame, or for ``stop`` to be set (then None)."""

    def __init__(self):
        self._frame: _Waiting | None = None
        self._wake = asyncio.Event()

    def put(self, frame: _Waiting) -> int | None:
        replaced = self._frame.id if self._frame is not None else None
        self._frame = frame
        self._wake.set()
        return replaced

    def wake(self) -> None:
        """Makes a waiting ``take`` look at its ``stop`` event again."""
        self._wake.set()

    async def take(self, stop: asyncio.Event) -> _Waiting | None:
        while self._frame is None and not stop.is_set():
            self._wake.clear()
            await self._wake.wait()
        if stop.is_set():
            return None
        frame, self._frame = self._frame, None
        return frame


class LiveSession:
    def __init__(self, ws: web.WebSocketResponse, client: AsyncTranslatorClient,
                 model: str | None, timings: BridgeTimings = BridgeTimings(),
                 temporal: str = "off"):
        self._ws, self._client, self._timings = ws, client, timings
        self._wanted = model            # the model the page asked for (None: the first one)
        self._temporal = temporal       # the server's temporal filter level for the stream
        self._models: dict[str, ModelInfo] = {}
        self._slot = NewestFrame()
        self._sent: collections.deque = collections.deque()  # (sequence, _Waiting, taken at)
        self._switch = asyncio.Event()
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._streams()), asyncio.create_task(self._health())]
        try:
            await self._receive()
        finally:
            await _cancel(tasks)

    # -- from the page ----------------------------------------------------------------------
    async def _receive(self) -> None:
        async for message in self._ws:
            if message.type == WSMsgType.BINARY:
                await self._on_frame(message.data)
            elif message.type == WSMsgType.TEXT:
                await self._on_command(message.data)

    async def _on_frame(self, data: bytes) -> None:
        try:
            header, jpeg = wire.unpack(data)
        except InvalidInputError as exc:
            await self._state("error", str(exc))
            return
        replaced = self._slot.put(_Waiting(header["id"], jpeg, time.perf_counter()))
        if replaced is not None:
            await self._send_json({"type": "drop", "ids": [replaced]})

    async def _on_command(self, text: str) -> None:
        try:
            command = json.loads(text)
        except json.JSONDecodeError:
            command = None
        if not isinstance(command, dict):  # "5", "[]", "null" parse, but carry no command
            await self._state("error", f"control message is not a JSON object: {text[:80]!r}")
            return
        if command.get("type") == "model" and command.get("name") != self._wanted:
            self._wanted = str(command.get("name"))
            self._restart()
        elif command.get("type") == "temporal":
            await self._switch_temporal(command.get("level"))

    async def _switch_temporal(self, level) -> None:
        if not isinstance(level, str) or level not in TEMPORAL_FILTERS:
            # The stream is left alone; the page's select goes back to the level in use.
            await self._state("error", f"unknown temporal filter level {level!r}: choose "
                                       f"{', '.join(TEMPORAL_FILTERS)}; still {self._temporal}")
            await self._send_json({"type": "temporal", "level": self._temporal})
        elif level != self._temporal:
            self._temporal = level
            self._restart()

    def _restart(self) -> None:
        """Ends the current stream; the next one uses the model and filter asked for now."""
        self._switch.set()
        self._slot.wake()  # ends the current stream's requests; a new one starts

    # -- to the service ---------------------------------------------------------------------
    async def _streams(self) -> None:
        """One Translate stream after another: a new one after a model switch, or after a
        failure once the retry interval has passed (the page shows why meanwhile)."""
        while True:
            self._switch.clear()  # a switch from here on ends the stream below
            try:
                await self._send_json({"type": "temporal", "level": self._temporal})
                model = await self._choose_model()
                await self._state("live", f"translating with {model}")
                await self._stream(model)
            except ClientError as exc:
                await self._state(_state_of(exc), exc.detail)
            except Exception as exc:  # a bug: say so on the page, keep the page alive
                log.exception("live stream failed")
                await self._state("error", f"{type(exc).__name__}: {exc}")
            finally:
                await self._drop_unanswered()
            if not self._switch.is_set():
                try:
                    await asyncio.wait_for(self._switch.wait(), self._timings.retry_every_s)
                except asyncio.TimeoutError:
                    pass

    async def _choose_model(self) -> str:
        try:
            await self._client.wait_until_ready(self._timings.probe_timeout_s)
        except ServerUnavailableError:
            raise ServerUnavailableError(
                f"no connection within {self._timings.probe_timeout_s:g} s (is the server "
                f"running, and is --server right?)", target=self._client.target) from None
        models = await self._client.list_models()
        self._models = {m.name: m for m in models}
        if self._wanted is None and models:
            self._wanted = models[0].name
        await self._send_json({"type": "models", "selected": self._wanted,
                               "models": [_describe(m) for m in models]})
        if self._wanted not in self._models:
            raise ModelNotFoundError(
                f"the server has no model named {self._wanted!r} (any more); loaded: "
                f"{', '.join(self._models) or 'none'}", target=self._client.target)
        return self._wanted

    async def _stream(self, model: str) -> None:
        view = wire.transform_view(self._models[model])
        replies = self._client.stream(self._frames(view), model=model, mode="live",
                                      temporal=self._temporal)
        try:
            async for reply in replies:
                await self._answer(reply)
        finally:
            await replies.aclose()

    async def _frames(self, view):
        """The request side: the newest waiting frame each time one is there, until a switch.
        Sequence numbers are the client's: 0, 1, 2, ... in the order yielded."""
        sequence = 0
        while (waiting := await self._slot.take(self._switch)) is not None:
            try:
                image = wire.decode_jpeg(waiting.jpeg)
            except InvalidInputError as exc:
                await self._state("error", str(exc))
                await self._send_json({"type": "drop", "ids": [waiting.id]})
                continue
            self._sent.append((sequence, waiting, time.perf_counter()))
            sequence += 1
            yield image
            if view is not None:  # here, it overlaps with the server's work on the frame
                await self._send_bytes(wire.pack({"id": waiting.id, "kind": "view"},
                                                 wire.encode_jpeg(view(image))))

    async def _answer(self, reply) -> None:
        dropped = []
        while self._sent and self._sent[0][0] < reply.sequence:
            dropped.append(self._sent.popleft()[1].id)  # skipped by the server (LIVE mode)
        if dropped:
            await self._send_json({"type": "drop", "ids": dropped})
        if not self._sent or self._sent[0][0] != reply.sequence:
            return
        _, waiting, taken = self._sent.popleft()
        started = time.perf_counter()
        jpeg = wire.encode_jpeg(reply.image)
        done = time.perf_counter()
        await self._send_bytes(wire.pack({
            "id": waiting.id, "kind": "output",
            "wait_ms": round((taken - waiting.received) * 1000, 2),  # in the slot, and decoding
            "rpc_ms": round((now_us() - reply.timestamp_us) / 1000, 2),
            "queue_ms": round(reply.queue_ms, 2), "inference_ms": round(reply.inference_ms, 2),
            "encode_ms": round((done - started) * 1000, 2),
            "bridge_ms": round((done - waiting.received) * 1000, 2)}, jpeg))

    async def _drop_unanswered(self) -> None:
        ids = [waiting.id for _, waiting, _ in self._sent]
        self._sent.clear()
        if ids:
            await self._send_json({"type": "drop", "ids": ids})

    async def _health(self) -> None:
        while True:
            try:
                status = await asyncio.wait_for(self._client.health(),
                                                self._timings.probe_timeout_s)
            except (ClientError, asyncio.TimeoutError):
                status = "UNREACHABLE"
            await self._send_json({"type": "health", "status": status})
            await asyncio.sleep(self._timings.health_every_s)

    # -- sending ----------------------------------------------------------------------------
    async def _state(self, state: str, message: str = "") -> None:
        await self._send_json({"type": "state", "state": state, "message": message})

    async def _send_json(self, value: dict) -> None:
        await self._send(self._ws.send_str, json.dumps(value))

    async def _send_bytes(self, data: bytes) -> None:
        await self._send(self._ws.send_bytes, data)

    async def _send(self, send, payload) -> None:
        if self._ws.closed:
            return
        async with self._send_lock:  # one message at a time on the socket
            try:
                await send(payload)
            except ConnectionError:
                log.debug("page went away while sending")


async def _cancel(tasks: list[asyncio.Task]) -> None:
    """Cancels the tasks and waits for them to end, cancelling again while they run on: a gRPC
    call cancelled at the wrong moment (a health call in flight, a stream still starting) ends
    in an error instead (CANCELLED), which the loops above take for a failure and carry on
    after; the page's handler, and with it Ctrl-C, would then wait for aiohttp's 60 s timeout.
    Finishes even when the handler itself is cancelled meanwhile (aiohttp's handler_cancellation
    when the page goes): a task left running would hang the event loop's end."""
    pending, interrupted = set(tasks), False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=0.1)
        except asyncio.CancelledError:  # the page's own handler, cancelled: finish this first
            interrupted = True
    await asyncio.gather(*tasks, return_exceptions=True)  # all done: collects their errors
    if interrupted:
        raise asyncio.CancelledError


def _state_of(error: ClientError) -> str:
    return next(state for kind, state in _STATES if isinstance(error, kind))


def _describe(model: ModelInfo) -> dict:
    return {"name": model.name, "description": model.description, "width": model.input_width,
            "height": model.input_height, "transform": model.input_transform or "none",
            "backend": model.backend, "precision": model.precision}
