"""A bounded chaos run on loopback: what a hostile or careless world does to the service, and
what was lost.

    python bench/chaos.py                 # (make chaos) a few minutes on a small CPU machine
    python bench/chaos.py --scale 0.5     # fewer of everything

Two pix2pix-serve replicas run as subprocesses on 127.0.0.1 with a tiny real engine (exported
in a child process; this one never imports torch). Against them, in order:

- bad inputs: garbage frames, wrong sizes, unknown models and codecs, random bytes as videos;
- a disconnect storm: streams and uploads cut off at random moments, channels dropped;
- an idle-stream flood: --max-streams streams that send a config and nothing else, then a
  legitimate client that must get in once the idle timeout has freed the slots;
- oversized jobs: a small clip asked back as raw 4096x2160 video;
- then replica A's threads, fds and spool entries against their baseline;
- SIGTERM, then kill -9, of the replica serving a two-replica client's frame stream, a
  local-decode video written over an existing file, and a server-side video job.

It prints one table: what was tried, how many times, how many went as they should, and what was
lost: frames, clobbered files, threads / fds / temp entries beyond the baseline. Every loop is
bounded in count and every call in time; nothing leaves 127.0.0.1. Exit status 1 when anything
was lost.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from chaos_replica import IDLE_TIMEOUT_S, MAX_STREAMS, MODEL, SIZE, Replica, export_engine  # bench/
from held_resources import own_held, settle, thread_names  # bench/, this script's folder
from pix2pix_stream.client.sync_client import TranslatorClient
from pix2pix_stream.media.synthetic import drawn_frame, make_clip, probe
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc

CALL_TIMEOUT_S = 30.0


@dataclass
class Row:
    what: str
    tried: int = 0
    as_expected: int = 0
    frames_lost: int = 0
    clobbered: int = 0
    leaked: str = "-"
    note: str = ""


def warm_up(stub, clip: bytes) -> None:
    """Starts every lazily started thread (worker pools grow with concurrency) before the
    baseline: concurrent video jobs and frame streams, to completion."""
    calls = [stub.TranslateVideo(video_requests(pb.VideoConfig(model=MODEL), clip))
             for _ in range(MAX_STREAMS // 2)]
    calls += [stub.Translate(frame_requests(pb.StreamConfig(model=MODEL),
                                            (raw(f) for f in frames(30))))
              for _ in range(MAX_STREAMS - len(calls))]
    threads = [threading.Thread(target=final_code, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CALL_TIMEOUT_S)


def frames(n: int, offset: int = 0) -> list[np.ndarray]:
    return [drawn_frame(i + offset, SIZE, SIZE) for i in range(n)]


def raw(image: np.ndarray) -> pb.Image:
    h, w = image.shape[:2]
    return pb.Image(raw=pb.RawImage(width=w, height=h, format=pb.RGB24, data=image.tobytes()))


def frame_requests(config: pb.StreamConfig, images):
    yield pb.TranslateRequest(config=config)
    for i, image in enumerate(images):
        yield pb.TranslateRequest(frame=pb.Frame(sequence=i, image=image))


def video_requests(config: pb.VideoConfig, data: bytes, chunk: int = 8192):
    yield pb.VideoRequest(config=config)
    for start in range(0, len(data), chunk):
        yield pb.VideoRequest(chunk=data[start:start + chunk], last=start + chunk >= len(data))


def final_code(call) -> grpc.StatusCode:
    try:
        for _ in call:
            pass
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        return exc.code()


# -- scenarios --------------------------------------------------------------------------------

def bad_inputs(stub, n: int, clip: bytes) -> Row:
    config = pb.StreamConfig(model=MODEL)
    garbage = pb.Image(raw=pb.RawImage(width=64, height=64, format=pb.RGB24, data=b"x" * 100))
    cases = [
        ("garbage frame", lambda: stub.Translate(frame_requests(config, [garbage, pb.Image(jpeg=b"no")]),
                                                 timeout=CALL_TIMEOUT_S), {grpc.StatusCode.OK}),
        ("unknown model", lambda: stub.Translate(frame_requests(pb.StreamConfig(model="nope"), []),
                                                 timeout=CALL_TIMEOUT_S), {grpc.StatusCode.NOT_FOUND}),
        ("huge output size", lambda: stub.Translate(frame_requests(pb.StreamConfig(
            model=MODEL, output_width=100_000, output_height=100_000), []), timeout=CALL_TIMEOUT_S),
         {grpc.StatusCode.INVALID_ARGUMENT}),
        ("random bytes video", lambda: stub.TranslateVideo(video_requests(
            pb.VideoConfig(model=MODEL), os.urandom(50_000)), timeout=CALL_TIMEOUT_S),
         {grpc.StatusCode.INVALID_ARGUMENT}),
        ("unknown codec", lambda: stub.TranslateVideo(video_requests(
            pb.VideoConfig(model=MODEL, codec="nope"), clip), timeout=CALL_TIMEOUT_S),
         {grpc.StatusCode.INVALID_ARGUMENT}),
        ("cut video", lambda: stub.TranslateVideo(video_requests(
            pb.VideoConfig(model=MODEL, container="matroska"), clip[: len(clip) // 2]),
            timeout=CALL_TIMEOUT_S), {grpc.StatusCode.INVALID_ARGUMENT}),
    ]
    row = Row("bad inputs (frames, configs, videos)")
    for i in range(n):
        _, call, expected = cases[i % len(cases)]
        row.tried += 1
        row.as_expected += final_code(call()) in expected
    return row


def disconnect_storm(address: str, n: int, clip: bytes, rng: random.Random) -> Row:
    """Calls cut off at random moments, on channels that are then dropped."""
    def one(i: int) -> None:
        channel = grpc.insecure_channel(address)
        stub = pb_grpc.TranslatorStub(channel)
        if i % 2:
            call = stub.Translate(frame_requests(pb.StreamConfig(model=MODEL),
                                                 (raw(f) for f in frames(200))))
        else:
            call = stub.TranslateVideo(video_requests(pb.VideoConfig(model=MODEL), clip, 2048))
        timer = threading.Timer(rng.uniform(0.01, 0.6), call.cancel)
        timer.start()
        final_code(call)
        timer.cancel()
        channel.close()

    row = Row("disconnect storm (cancel + drop channel)")
    for start in range(0, n, 8):
        threads = [threading.Thread(target=one, args=(i,)) for i in range(start, min(n, start + 8))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(CALL_TIMEOUT_S)
            row.tried += 1
            row.as_expected += not thread.is_alive()
    return row


def idle_flood(address: str, rounds: int) -> Row:
    """MAX_STREAMS config-only streams, then a legitimate 20-frame stream that must get in."""
    row = Row("idle-stream flood (then a real client)")
    for _ in range(rounds):
        release = threading.Event()

        def config_only():
            yield pb.TranslateRequest(config=pb.StreamConfig(model=MODEL))
            release.wait(IDLE_TIMEOUT_S * 10)

        channel = grpc.insecure_channel(address)
        stub = pb_grpc.TranslatorStub(channel)
        idle = [stub.Translate(config_only()) for _ in range(MAX_STREAMS)]
        waiters = [threading.Thread(target=final_code, args=(c,), daemon=True) for c in idle]
        for waiter in waiters:
            waiter.start()
        time.sleep(0.3)
        got, deadline = 0, time.monotonic() + IDLE_TIMEOUT_S + 10
        while time.monotonic() < deadline:
            try:
                got = sum(1 for _ in stub.Translate(frame_requests(
                    pb.StreamConfig(model=MODEL), (raw(f) for f in frames(20))), timeout=10))
                break
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    break
                time.sleep(0.2)
        release.set()
        channel.close()
        row.tried += 1
        row.as_expected += got == 20
        row.frames_lost += 20 - got
    return row


def oversized(stub, n: int, clip_mp4: bytes) -> Row:
    row = Row("oversized jobs (raw 4096x2160 output)")
    for _ in range(n):
        row.tried += 1
        code = final_code(stub.TranslateVideo(video_requests(pb.VideoConfig(
            model=MODEL, codec="rawvideo", container="matroska", output_width=4096,
            output_height=2160), clip_mp4), timeout=CALL_TIMEOUT_S))
        row.as_expected += code == grpc.StatusCode.RESOURCE_EXHAUSTED
    return row


def holder(replicas: list[Replica], method: str, timeout_s: float = 10.0) -> Replica | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for replica in replicas:
            if replica.process.poll() is None and replica.open_calls(method) >= 1:
                return replica
        time.sleep(0.02)
    return None


def held(images: list[np.ndarray], hold_at: int, release: threading.Event,
         timeout_s: float = 30.0):
    """``images`` one by one, waiting before image ``hold_at`` until ``release`` is set. A
    short stream could otherwise be answered in full, and its call closed, before the replica
    serving it is looked for, so that no replica would be found to signal."""
    for i, image in enumerate(images):
        if i == hold_at:
            release.wait(timeout_s)
        yield image


def replica_loss(replicas: list[Replica], signum: int, expected: list[np.ndarray],
                 work: Path) -> list[Row]:
    """Kills (``signum``) the replica serving each kind of job once; restarts it after."""
    name = signal.Signals(signum).name
    rows = []
    target = ",".join(r.address for r in replicas)
    victims: list[Replica] = []

    def hit(method: str) -> None:
        # Found and signalled before the caller (the client's reading loop) goes on: a call
        # that the client keeps reading may end before a signal sent later reaches its replica.
        # restart() waits for the victim to exit.
        victim = holder(replicas, method)
        if victim is not None:
            victims.append(victim)
            victim.process.send_signal(signum)

    row = Row(f"{name} of the replica serving a frame stream", tried=1)
    got = []
    signalled = threading.Event()
    sent = held(frames(len(expected)), 2 * len(expected) // 3, signalled)
    with TranslatorClient(target, connect_timeout_s=15) as client:
        try:
            for image in client.translate_frames(sent, model=MODEL):
                got.append(image)
                if len(got) == len(expected) // 3:
                    hit("Translate")
                    signalled.set()
        except Exception as exc:  # counted as lost frames, and named
            row.note = type(exc).__name__
    same = sum(np.array_equal(a, b) for a, b in zip(got, expected))
    row.as_expected = int(same == len(expected))
    row.frames_lost = len(expected) - same
    rows.append(missed_if_unhit(row, victims))
    restart(victims)

    # Long enough (400 frames) that a replica is still translating it when the signal is due,
    # on a fast CPU too: the 60-frame clip was done before a SIGKILL could find its replica.
    src = make_clip(work / "long.mp4", frames=400, width=96, height=80, fps=20, audio=True)
    for server_decode in (False, True):
        what = "server-side video job" if server_decode else "local-decode video over a file"
        row = Row(f"{name} of the replica serving a {what}", tried=1)
        dst = work / f"out-{name}-{server_decode}.mp4"
        dst.write_bytes(b"an earlier output")
        method = "TranslateVideo" if server_decode else "Translate"
        fired = threading.Event()

        def progress(done, total, method=method, fired=fired):
            if done >= 10 and not fired.is_set():
                fired.set()
                hit(method)

        frames_done = 0
        with TranslatorClient(target, connect_timeout_s=15) as client:
            try:
                frames_done = client.translate_video(src, dst, model=MODEL, progress=progress,
                                                     server_decode=server_decode).frames
            except Exception as exc:
                row.note = type(exc).__name__
        written = probe(dst)["frames"] if dst.read_bytes() != b"an earlier output" else 0
        row.clobbered = int(frames_done == 0 and dst.read_bytes() != b"an earlier output")
        total = probe(src)["frames"]
        row.frames_lost = total - min(frames_done, written)
        row.as_expected = int(row.frames_lost == 0 and not row.clobbered)
        rows.append(missed_if_unhit(row, victims))
        restart(victims)
    return rows


def missed_if_unhit(row: Row, victims: list[Replica]) -> Row:
    """A run that ended before any replica could be signalled proves nothing: not as expected."""
    if not victims:
        row.as_expected, row.note = 0, "no replica was serving it when the signal was due"
    return row


def restart(victims: list[Replica]) -> None:
    for victim in victims:
        victim.process.wait(30)
        victim.start()
    victims.clear()


def print_table(rows: list[Row]) -> None:
    header = ("what was tried", "tried", "as expected", "frames lost", "files clobbered",
              "leaked", "note")
    cells = [header] + [(r.what, str(r.tried), str(r.as_expected), str(r.frames_lost),
                         str(r.clobbered), r.leaked, r.note) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def lost_anything(rows: list[Row]) -> bool:
    return any(r.frames_lost or r.clobbered or r.leaked not in ("-", "0") or
               r.as_expected != r.tried for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    count = lambda n: max(1, round(n * args.scale))  # noqa: E731
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="pix2pix-chaos-") as tmp:
        work = Path(tmp)
        print("exporting the engine and starting two replicas ...", file=sys.stderr)
        engines = export_engine(work / "engines")
        replicas = []
        for name in ("a", "b"):
            (work / f"spool-{name}").mkdir()
            replicas.append(Replica(engines, work / f"spool-{name}").start())
        try:
            return run(replicas, work, count, rng)
        finally:
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.signal(signal.SIGTERM)


def run(replicas: list[Replica], work: Path, count, rng: random.Random) -> int:
    a = replicas[0]
    clip = make_clip(work / "clip.mkv", frames=40, width=96, height=80, fps=20,
                     audio=False).read_bytes()
    clip_mp4 = make_clip(work / "clip.mp4", frames=60, width=96, height=80, fps=20,
                         audio=True).read_bytes()
    channel = grpc.insecure_channel(a.address)
    stub = pb_grpc.TranslatorStub(channel)
    warm_up(stub, clip)

    def abuse(count) -> list[Row]:
        return [bad_inputs(stub, count(30), clip),
                disconnect_storm(a.address, count(40), clip, rng),
                idle_flood(a.address, count(3)), oversized(stub, count(5), clip_mp4)]

    # One small round first: the server's thread pools grow to their (bounded) size under the
    # storm's concurrency; a leak is what grows beyond that.
    abuse(lambda n: min(n, 8))
    time.sleep(2)  # let the round's calls finish closing
    baseline = a.held()
    client_baseline = own_held()
    rows = abuse(count)
    channel.close()
    leaked = settle(a.held, baseline)
    extra = thread_names(a.process.pid) - baseline[0]
    rows.append(Row(f"replica A after the above (baseline {sum(baseline[0].values())} threads, "
                    f"{baseline[1]} fds, {baseline[2]} temp)", leaked=leaked,
                    note=", ".join(f"{n}x {name}" for name, n in extra.items())))
    with TranslatorClient(a.address) as client:
        expected = list(client.translate_frames(iter(frames(count(90))), model=MODEL))
    for signum in (signal.SIGTERM, signal.SIGKILL):
        rows += replica_loss(replicas, signum, expected, work)
    rows.append(Row("this client process after the failovers",
                    leaked=settle(own_held, client_baseline)))
    print_table(rows)
    return 1 if lost_anything(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
