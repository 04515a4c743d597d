"""pix2pix-stream client: translate frames, images and video files on a pix2pix-stream server.

    from pix2pix_stream.client import TranslatorClient
    with TranslatorClient("localhost:50051") as c:
        out = c.translate_image(rgb, model="facades")

Needs grpcio, protobuf, numpy, PyAV and OpenCV; never torch or onnxruntime.
"""
from pix2pix_stream.client.async_client import AsyncTranslatorClient
from pix2pix_stream.client.config import ClientConfig
from pix2pix_stream.client.errors import (AuthError, ClientError, DeadlineExceededError, InputFileError,
                           InvalidInputError, InvalidOptionError, ModelNotFoundError,
                           OutputFileError, ServerError, ServerUnavailableError, StoppedError)
from pix2pix_stream.client.frames import ModelInfo, TranslatedFrame
from pix2pix_stream.client.local_video import VideoResult
from pix2pix_stream.client.sync_client import TranslatorClient

__all__ = [
    "TranslatorClient", "AsyncTranslatorClient", "ClientConfig", "ModelInfo", "TranslatedFrame",
    "VideoResult", "ClientError", "ServerUnavailableError", "ModelNotFoundError", "AuthError",
    "InvalidInputError", "InvalidOptionError", "DeadlineExceededError", "ServerError",
    "InputFileError", "OutputFileError", "StoppedError",
]
