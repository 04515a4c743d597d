"""Generated gRPC stubs for the pix2pix.v1 API (see translator.proto)."""
