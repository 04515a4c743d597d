"""The audio of an output: the input's packets copied as they are when the container can hold
their codec, else decoded and encoded again in the container's own audio codec."""
from __future__ import annotations

import av

AUDIO_ENCODERS = {"mp4": "aac", "mov": "aac", "webm": "opus"}  # muxer -> codec (FFmpeg picks its encoder)


def audio_encoder_for(container: av.container.OutputContainer, name: str) -> str:
    """AAC for MP4 and MOV, Opus for WebM, else the muxer's own default."""
    return AUDIO_ENCODERS.get(name) or container.default_audio_codec


class AudioOutput:
    """Adds the audio stream to ``container``; ``encode`` turns each input packet into the
    packets to mux, ``flush`` gives the encoder's last ones."""

    def __init__(self, container: av.container.OutputContainer,
                 source: av.audio.stream.AudioStream, container_name: str):
        self._source = source
        codec = source.codec_context.name
        self._stream = self._copy_of(container, source) if codec in container.supported_codecs \
            else None
        self.copying = self._stream is not None
        if self.copying:
            self.description = f"{codec} copied"
            return
        encoder = audio_encoder_for(container, container_name)
        rate = _supported_rate(encoder, source.codec_context.sample_rate)
        self._stream = container.add_stream(encoder, rate=rate)  # PyAV resamples to it
        self._stream.layout = source.codec_context.layout
        self.description = (f"{codec} -> {self._stream.codec_context.codec.canonical_name} "
                            f"({container_name} cannot hold {codec})")

    @staticmethod
    def _copy_of(container, source):
        try:
            return container.add_stream_from_template(source)
        except ValueError:  # the muxer lists the codec but refuses this stream's parameters
            return None

    def encode(self, packet: av.Packet) -> list[av.Packet]:
        if self.copying:
            packet.stream = self._stream
            return [packet]
        packets = []
        for frame in packet.decode():
            frame.pts = None  # the encoder numbers its own frames
            packets += self._stream.encode(frame)
        return packets

    def flush(self) -> list[av.Packet]:
        return [] if self.copying else self._stream.encode(None)


def _supported_rate(codec: str, rate: int) -> int:
    rates = av.codec.Codec(codec, "w").audio_rates  # None: any rate (Opus takes only a few)
    if not rates or rate in rates:
        return rate
    return min(rates, key=lambda r: (r < rate, abs(r - rate)))
