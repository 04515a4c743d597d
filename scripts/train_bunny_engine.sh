#!/usr/bin/env bash
# Trains the shipped demo engine engines/edges2bunny with the project's own pix2pix-train: Canny
# edges -> frame on the first 25 s of Big Buck Bunny (../shared/data/video/
# bigbuckbunny_30s_720p.webm; the last 5 s, 120 frames, are held out), realtime generator, with
# the stability terms (on by default for a video; measured plainly, as before detail-invariant
# became the default on 2026-12-04, so that the script still makes the shipped engine). A second
# run, identical but without the terms, is the baseline that the card and bench/temporal.py
# compare against. The two run side by side, one thread each: 12 minutes on the 2-core CPU of
# 2026-12-02 (78 on a slower one).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIP=${CLIP:-../shared/data/video/bigbuckbunny_30s_720p.webm}
COMMON=(--data "$CLIP" --input-transform canny --transform-param low=100 --transform-param high=200
        --preset realtime --ndf 32 --val-fraction 0.1667 --seed 0 --batch-size 4
        --epochs 4 --epochs-decay 4 --threads 1 --no-progress --log-every 25)
.venv/bin/pix2pix-train "${COMMON[@]}" --no-stability-detail-invariant --out runs/edges2bunny \
  --engine-dir engines/edges2bunny --engine-name edges2bunny "$@" &
with_terms=$!
.venv/bin/pix2pix-train "${COMMON[@]}" --stability 0 --temporal-weight 0 \
  --out runs/edges2bunny-nostab --no-engine "$@" &
without_terms=$!
wait "$with_terms" && wait "$without_terms"   # either failing stops the script (set -e)
# Score the held-out tail (both runs, and with the server's filter), re-export with int8
# calibrated on training frames, write the card and its picture.
.venv/bin/python scripts/finish_bunny_engine.py runs/edges2bunny engines/edges2bunny \
  runs/edges2bunny-nostab
