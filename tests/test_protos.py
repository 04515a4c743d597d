"""The committed stubs must be what the .proto gives."""
from pix2pix_stream.protos import generate


def test_committed_stubs_match_proto():
    assert generate.stale_outputs() == [], "run: python -m pix2pix_stream.protos.generate"
