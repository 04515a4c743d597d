"""The transport floor of bench/service.py: a gRPC server of the same Translator service that
sends every frame straight back (no decode, no batching, no model).

    python bench/echo_server.py          # prints "listening on port N" on stderr

bench/service.py runs it beside pix2pix-serve and drives both with the same client code, so a
row's echo numbers are what the same frames cost on this machine's gRPC Python stack alone:
the latency no server of this protocol can go below, and the CPU per frame that server + client
spend on transport whatever the server does with the frame. Only the Translate stream answers.
"""
from __future__ import annotations

import asyncio
import sys

import grpc

from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.protos import translator_pb2_grpc as pb_grpc

MAX_MESSAGE_BYTES = 64 << 20


class Echo(pb_grpc.TranslatorServicer):
    async def Translate(self, request_iterator, context):
        async for request in request_iterator:
            if request.WhichOneof("msg") != "frame":
                continue   # the stream's config
            reply = pb.TranslateResponse(sequence=request.frame.sequence,
                                         timestamp_us=request.frame.timestamp_us)
            reply.image.CopyFrom(request.frame.image)   # one copy, as the server's raw replies
            yield reply


async def serve() -> None:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                                      ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    pb_grpc.add_TranslatorServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"echo server listening on port {port}", file=sys.stderr, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve())
