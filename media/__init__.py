"""The media floor: video decode/encode, image codecs, resizing, compute sizes and input
transforms. numpy, OpenCV and PyAV only (no torch, no gRPC), so the client, the server and
training all stand on it and each video idiom is written once."""
