"""pix2pix_stream.media.images and image_headers: sizes read from PNG and JPEG headers before
any decoding, cut files refused, raw layouts, and round trips through the encoders."""
from __future__ import annotations

import numpy as np
import pytest

from pix2pix_stream.media import images
from pix2pix_stream.media.errors import ImageError
from pix2pix_stream.media.image_headers import HeaderError, jpeg_size, png_size
from pix2pix_stream.media.synthetic import drawn_frame


def test_header_sizes_match_the_decoded_sizes():
    rgb = drawn_frame(4, 40, 30)
    for encode, size_of, kind in ((images.encode_png, png_size, "PNG"),
                                  (images.encode_jpeg, jpeg_size, "JPEG")):
        data = encode(rgb)
        assert size_of(data) == (40, 30)
        assert images.decode_compressed(data, kind).shape == (30, 40, 3)


def test_png_round_trips_exactly_and_jpeg_quality_counts():
    rgb = drawn_frame(5, 64, 48)
    assert np.array_equal(images.decode_compressed(images.encode_png(rgb), "PNG"), rgb)
    low, high = images.encode_jpeg(rgb, 10), images.encode_jpeg(rgb, 95)
    assert len(low) < len(high)
    error = np.abs(images.decode_compressed(high, "JPEG").astype(int) - rgb).mean()
    assert error < 3


def test_a_huge_png_is_refused_from_its_header_alone(monkeypatch):
    """A few hundred bytes that claim 100000 x 100000 pixels: IHDR says so, and the decoder is
    never called (it is watched, not replaced)."""
    data = images.encode_png(np.zeros((8, 8, 3), np.uint8))
    huge = data[:16] + (100_000).to_bytes(4, "big") * 2 + data[24:]
    assert png_size(huge) == (100_000, 100_000)
    decoded = []
    imdecode = images.cv2.imdecode
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: decoded.append(1) or imdecode(*a))
    with pytest.raises(ImageError, match="100000x100000 = 10000000000 pixels, more than the "
                                         "limit of 1000000"):
        images.decode_compressed(huge, "PNG", max_pixels=1_000_000)
    assert not decoded
    images.decode_compressed(data, "PNG", max_pixels=1_000_000)
    assert decoded  # the watch works


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_cut_files_are_corrupt_at_any_length(kind):
    """The header walk itself finds the cut (whatever the decoder would make of it)."""
    encode, size_of = (images.encode_png, png_size) if kind == "PNG" else \
        (images.encode_jpeg, jpeg_size)
    data = encode(drawn_frame(1, 64, 64))
    for cut in (12, 20, len(data) // 2, len(data) - 2):
        with pytest.raises(HeaderError) as info:
            size_of(data[:cut])
        assert not info.value.invalid
        with pytest.raises(ImageError, match=f"corrupt {kind} image"):
            images.decode_compressed(data[:cut], kind)


def test_other_formats_are_not_valid():
    with pytest.raises(ImageError, match="not a valid JPEG image"):
        images.decode_compressed(images.encode_png(drawn_frame(0)), "JPEG")
    with pytest.raises(HeaderError) as info:
        png_size(b"GIF89a....")
    assert info.value.invalid


def test_raw_layouts_decode_to_rgb():
    rgb = drawn_frame(3, 20, 10)
    assert images.decode_raw(rgb.tobytes(), 20, 10, "RGB24") is not None
    assert np.array_equal(images.decode_raw(rgb[:, :, ::-1].tobytes(), 20, 10, "BGR24"), rgb)
    gray = images.decode_raw(rgb[:, :, 0].tobytes(), 20, 10, "GRAY8")
    assert np.array_equal(gray[:, :, 1], rgb[:, :, 0])
    with pytest.raises(ImageError, match="has 5 bytes, expected 600"):
        images.decode_raw(b"12345", 20, 10, "RGB24")
