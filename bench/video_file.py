"""A 720p video file end to end: pix2pix-client video (local decode, the default, and
--server-decode) against what people do today with the official code: ffmpeg to PNG frames,
the official test.py, ffmpeg back to a video. One run, same network, wall-clock ratios.

    .venv/bin/python bench/video_file.py                 # bigbuckbunny_720p.mp4, unet_256 ngf 64
    .venv/bin/python bench/video_file.py --drawn --frames 24   # a drawn 1280x720 clip
    .venv/bin/python bench/video_file.py --json out/video_file.json

The baseline is a re-enactment, not the official code: that code is not in this repository
and it needs torchvision, which does not import beside the torch installed here. It runs the
same steps in a child process timed from its start (interpreter, torch import and weights
included, as `python test.py` pays them):

1. `ffmpeg -i clip frames/%05d.png`: every frame decoded (PyAV) and written as PNG;
2. `test.py --model test --netG unet_256`: per PNG: read, RGB, bicubic resize to 256x256, a
   [-1, 1] tensor, the generator in fp32 eager at batch 1, back to uint8, the real and the
   fake image written as PNG (the test model's two visuals);
3. `ffmpeg -i fake/%05d.png -vf scale=W:H out.mp4`: the fakes read, resized to the clip's
   size and encoded H.264 (PyAV, libx264 defaults).

Ours: the same network exported as an engine (with its int8 graph, as pix2pix-train exports
it), served by a warm pix2pix-serve subprocess on its default backend (a service: its start-up
is not counted), and `pix2pix-client video` subprocesses timed from start, at the default
compute-size policy (short side 256, aspect kept: 1280x720 -> 455x256 padded to 512x256,
twice the baseline's pixels per frame), audio kept.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_json import write_json  # bench/, this script's folder
from serve_process import Server    # bench/: pix2pix-serve in a subprocess

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "data" / "video" / "bigbuckbunny_720p.mp4"
NAME = "paper"

BASELINE = r"""
import sys, time
from pathlib import Path
import av, cv2, numpy as np, torch
from pix2pix_stream.networks.models import UnetGenerator

clip, weights, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
torch.set_num_threads(int(sys.argv[4]))
frames_dir, results = work / "frames", work / "results"
frames_dir.mkdir(); results.mkdir()

# 1. ffmpeg -i clip frames/%05d.png
with av.open(str(clip)) as container:
    stream = container.streams.video[0]
    rate, size = stream.average_rate, (stream.codec_context.width, stream.codec_context.height)
    for i, frame in enumerate(container.decode(stream)):
        cv2.imwrite(str(frames_dir / f"{i:05d}.png"), frame.to_ndarray(format="bgr24"))

# 2. test.py: one image at a time, as its data loader and save_images do
generator = UnetGenerator(netG="unet_256", ngf=64)
generator.load_state_dict(torch.load(weights))
for path in sorted(frames_dir.glob("*.png")):
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    real = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_CUBIC)
    x = torch.from_numpy(real).permute(2, 0, 1).float().div(127.5).sub(1.0)[None]
    with torch.no_grad():
        y = generator(x)
    fake = ((y[0].permute(1, 2, 0).numpy() + 1.0) / 2.0 * 255.0).clip(0, 255).astype(np.uint8)
    cv2.imwrite(str(results / f"{path.stem}_real.png"), cv2.cvtColor(real, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(results / f"{path.stem}_fake.png"), cv2.cvtColor(fake, cv2.COLOR_RGB2BGR))

# 3. ffmpeg -i results/%05d_fake.png -vf scale=W:H out.mp4
with av.open(str(work / "out.mp4"), "w") as container:
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    for path in sorted(results.glob("*_fake.png")):
        image = cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_CUBIC)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
    container.mux(stream.encode())
"""

EXPORT = r"""
import sys
from pathlib import Path
import torch
from pix2pix_stream.engines.build.export import export_generator
from pix2pix_stream.engines.build.synthetic import synthetic_generator

generator = synthetic_generator("unet_256", ngf=64, seed=1)
torch.save(generator.state_dict(), sys.argv[2])
export_generator(generator, Path(sys.argv[1]), name=sys.argv[3], input_size=256, int8=True,
                 description="bench engine: untrained unet_256 ngf 64")
"""


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=CLIP,
                   help="a 720p clip (default: bigbuckbunny_720p.mp4 of ../shared/data; a drawn "
                        "1280x720 clip of --frames frames when it is absent)")
    p.add_argument("--drawn", action="store_true", help="a drawn clip even where --clip exists")
    p.add_argument("--frames", type=int, default=132, help="frames of the drawn clip")
    p.add_argument("--threads", type=int, default=2, help="torch / inference threads")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    return p.parse_args(argv)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def clip_for(args, work: Path) -> tuple[Path, int]:
    if args.clip.is_file() and not args.drawn:
        import av
        with av.open(str(args.clip)) as container:
            return args.clip, container.streams.video[0].frames
    from pix2pix_stream.media.synthetic import make_clip
    return make_clip(work / "clip.mp4", frames=args.frames, width=1280, height=720), args.frames


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip, frames = clip_for(args, work)
        print(f"{clip.name}: {frames} frames; exporting unet_256 ngf 64 ...", flush=True)
        weights = work / "generator.pt"
        subprocess.run([sys.executable, "-c", EXPORT, str(work / "engines" / NAME), str(weights),
                        NAME], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        (work / "base").mkdir()
        print("baseline: ffmpeg -> test.py -> ffmpeg (re-enacted) ...", flush=True)
        baseline = timed([sys.executable, "-c", BASELINE, str(clip), str(weights),
                          str(work / "base"), str(args.threads)])
        server = Server(work / "engines", argparse.Namespace(
            threads=args.threads, max_batch=8, max_delay_ms=5.0, inflight=4), backend="auto",
            scale="engine")
        try:
            client = [sys.executable, "-m", "pix2pix_stream.client.cli", "video", str(clip),
                      "--server", f"127.0.0.1:{server.port}", "--model", NAME]
            rows = []
            for label, extra in (("pix2pix-client video (local decode, default)", []),
                                 ("pix2pix-client video --server-decode", ["--server-decode"])):
                print(f"{label} ...", flush=True)
                seconds = timed(client[:5] + [str(work / f"ours{len(rows)}.mp4")] + client[5:]
                                + extra)
                rows.append({"path": label, "seconds": seconds, "vs_baseline": baseline / seconds})
            backend = server.backend_of(NAME)
        finally:
            server.stop()
    print(f"\n{clip.name}, {frames} frames, unet_256 ngf 64, {args.threads} threads; served on "
          f"{backend}\n")
    print(f"| {'path':<48} | seconds | fps   | vs baseline |")
    print(f"|{'-' * 50}|---------|-------|-------------|")
    print(f"| {'ffmpeg -> official test.py -> ffmpeg (re-enacted)':<48} | {baseline:7.1f} | "
          f"{frames / baseline:5.1f} |       1.00x |")
    for r in rows:
        print(f"| {r['path']:<48} | {r['seconds']:7.1f} | {frames / r['seconds']:5.1f} | "
              f"{r['vs_baseline']:10.2f}x |")
    if args.json:
        write_json(args.json, "video_file", {
            "clip": clip.name, "frames": frames, "threads": args.threads, "backend": backend,
            "net": "unet_256 ngf 64"}, rows, baseline_s=baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
