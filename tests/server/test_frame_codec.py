"""pix2pix_stream.server.images: frame payloads in, replies out, and the errors that name what is wrong."""
from __future__ import annotations

import numpy as np
import pytest

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server import images
from pix2pix_stream.server.errors import FrameError
from pix2pix_stream.media.synthetic import drawn_frame
from pix2pix_stream.media.resize import resize
from tests.server.helpers import decode_reply, encoded, jpeg_image, png_image, raw_image

LIMIT = 1_000_000


def test_raw_rgb_bgr_and_gray_decode_to_the_same_rgb():
    rgb = drawn_frame(3, 40, 30)
    assert np.array_equal(images.decode_image(raw_image(rgb), LIMIT), rgb)
    assert np.array_equal(images.decode_image(raw_image(rgb[:, :, ::-1], pb.BGR24), LIMIT), rgb)
    gray = rgb[:, :, 0]
    decoded = images.decode_image(raw_image(gray[:, :, None], pb.GRAY8), LIMIT)
    assert decoded.shape == (30, 40, 3) and np.array_equal(decoded[:, :, 2], gray)


def test_png_is_lossless_and_jpeg_decodes():
    rgb = drawn_frame(5, 40, 30)
    assert np.array_equal(images.decode_image(png_image(rgb), LIMIT), rgb)
    assert images.decode_image(jpeg_image(rgb), LIMIT).shape == (30, 40, 3)


@pytest.mark.parametrize("image, message", [
    (pb.Image(raw=pb.RawImage(width=4, height=4, format=pb.RGB24, data=b"\0" * 47)),
     "raw frame has 47 bytes, expected 48 (4x4x3 RGB24)"),
    (pb.Image(raw=pb.RawImage(width=0, height=4, format=pb.RGB24, data=b"")), "zero dimension"),
    (pb.Image(raw=pb.RawImage(width=4, height=4, data=b"\0" * 48)), "no valid pixel format"),
    (pb.Image(raw=pb.RawImage(width=2000, height=1000, format=pb.GRAY8, data=b"")),
     "2000x1000 = 2000000 pixels, more than the server's limit of 1000000"),
    (pb.Image(jpeg=b"not a jpeg"), "not a valid JPEG image"),
    (pb.Image(png=b""), "PNG frame is empty"),
    (pb.Image(), "frame has no image"),
])
def test_bad_frames_are_named(image, message):
    with pytest.raises(FrameError, match=message.replace("(", r"\(").replace(")", r"\)")):
        images.decode_image(image, LIMIT)


def test_truncated_compressed_frames_are_corrupt_not_grey():
    rgb = drawn_frame(1, 64, 64)
    for kind in ("JPEG", "PNG"):
        data = encoded(rgb, kind)
        image = pb.Image(**{kind.lower(): data[: len(data) // 2]})
        with pytest.raises(FrameError, match=f"corrupt {kind} frame"):
            images.decode_image(image, LIMIT)


def test_an_oversized_png_is_refused_before_it_is_decompressed():
    big = np.zeros((1200, 1000, 3), np.uint8)  # compresses to a few kB
    with pytest.raises(FrameError, match="1000x1200 = 1200000 pixels"):
        images.decode_image(png_image(big), LIMIT)


def test_resize_leaves_a_frame_of_the_right_size_untouched():
    rgb = drawn_frame(0, 32, 16)
    assert resize(rgb, 32, 16) is rgb
    assert resize(rgb, 8, 4).shape == (4, 8, 3)
    assert resize(rgb, 64, 32).shape == (32, 64, 3)


@pytest.mark.parametrize("encoding", [pb.RAW, pb.PNG, pb.OUTPUT_ENCODING_UNSPECIFIED])
def test_lossless_reply_encodings_round_trip(encoding):
    rgb = drawn_frame(2, 24, 20)
    reply = pb.TranslateResponse(image=images.encode_image(rgb, encoding))
    assert np.array_equal(decode_reply(reply), rgb)


def test_jpeg_reply_honours_quality():
    rgb = drawn_frame(2, 64, 64)
    small = images.encode_image(rgb, pb.JPEG, 10).jpeg
    large = images.encode_image(rgb, pb.JPEG, 95).jpeg
    assert len(small) < len(large)
