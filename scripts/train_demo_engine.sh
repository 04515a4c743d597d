#!/usr/bin/env bash
# Trains the shipped demo engine engines/edges2facades with the project's own pix2pix-train:
# Canny edges of the CMP facade photos -> the photo (so any video, through the same Canny
# transform on the server, becomes a facade-textured rendering).
#
# The facades set is aligned photo|label; this engine needs only the photo halves, so they are
# cut into a scratch folder outside the project (A/ and B/ hold the same photo: pix2pix-train's
# input transform makes the edges from A, B is the target). Nothing is copied into the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/facades/train}
WORK=${WORK:-/tmp/pix2pix-demo}
EPOCHS=${EPOCHS:-25}
DECAY=${DECAY:-25}
mkdir -p "$WORK/photos/A" "$WORK/photos/B"
.venv/bin/python - "$DATA" "$WORK/photos" <<'PY'
import sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for p in sorted(src.glob("*.jpg")):
    im = Image.open(p).convert("RGB")
    photo = im.crop((0, 0, im.width // 2, im.height))
    for side in ("A", "B"):
        photo.save(dst / side / f"{p.stem}.png")
PY
.venv/bin/pix2pix-train --data "$WORK/photos" --data-mode pairs \
  --input-transform canny --transform-param low=100 --transform-param high=200 \
  --netG unet_256 --ngf 16 --batch-size 4 --epochs "$EPOCHS" --epochs-decay "$DECAY" \
  --val-fraction 0.1 --seed 0 --out "$WORK/run" --no-progress \
  --engine-dir engines/edges2facades --engine-name edges2facades "$@"
# Score on the held-out photos, re-export with real-photo int8 calibration, finish the card.
.venv/bin/python scripts/finish_demo_engine.py "$WORK" engines/edges2facades
