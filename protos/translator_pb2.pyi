from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_FORMAT_UNSPECIFIED: _ClassVar[PixelFormat]
    RGB24: _ClassVar[PixelFormat]
    BGR24: _ClassVar[PixelFormat]
    GRAY8: _ClassVar[PixelFormat]

class OutputEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_ENCODING_UNSPECIFIED: _ClassVar[OutputEncoding]
    RAW: _ClassVar[OutputEncoding]
    JPEG: _ClassVar[OutputEncoding]
    PNG: _ClassVar[OutputEncoding]

class StreamMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAM_MODE_UNSPECIFIED: _ClassVar[StreamMode]
    LOSSLESS: _ClassVar[StreamMode]
    LIVE: _ClassVar[StreamMode]

class TemporalFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEMPORAL_FILTER_UNSPECIFIED: _ClassVar[TemporalFilter]
    TEMPORAL_OFF: _ClassVar[TemporalFilter]
    TEMPORAL_LIGHT: _ClassVar[TemporalFilter]
    TEMPORAL_STRONG: _ClassVar[TemporalFilter]
PIXEL_FORMAT_UNSPECIFIED: PixelFormat
RGB24: PixelFormat
BGR24: PixelFormat
GRAY8: PixelFormat
OUTPUT_ENCODING_UNSPECIFIED: OutputEncoding
RAW: OutputEncoding
JPEG: OutputEncoding
PNG: OutputEncoding
STREAM_MODE_UNSPECIFIED: StreamMode
LOSSLESS: StreamMode
LIVE: StreamMode
TEMPORAL_FILTER_UNSPECIFIED: TemporalFilter
TEMPORAL_OFF: TemporalFilter
TEMPORAL_LIGHT: TemporalFilter
TEMPORAL_STRONG: TemporalFilter

class RawImage(_message.Message):
    __slots__ = ("width", "height", "format", "data")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    format: PixelFormat
    data: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[PixelFormat, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("raw", "jpeg", "png")
    RAW_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    raw: RawImage
    jpeg: bytes
    png: bytes
    def __init__(self, raw: _Optional[_Union[RawImage, _Mapping]] = ..., jpeg: _Optional[bytes] = ..., png: _Optional[bytes] = ...) -> None: ...

class StreamConfig(_message.Message):
    __slots__ = ("model", "encoding", "jpeg_quality", "mode", "output_width", "output_height", "temporal", "scale")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    model: str
    encoding: OutputEncoding
    jpeg_quality: int
    mode: StreamMode
    output_width: int
    output_height: int
    temporal: TemporalFilter
    scale: str
    def __init__(self, model: _Optional[str] = ..., encoding: _Optional[_Union[OutputEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., mode: _Optional[_Union[StreamMode, str]] = ..., output_width: _Optional[int] = ..., output_height: _Optional[int] = ..., temporal: _Optional[_Union[TemporalFilter, str]] = ..., scale: _Optional[str] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("sequence", "timestamp_us", "image")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_US_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_us: int
    image: Image
    def __init__(self, sequence: _Optional[int] = ..., timestamp_us: _Optional[int] = ..., image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("config", "frame")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    frame: Frame
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class FrameError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("sequence", "timestamp_us", "image", "error", "dropped", "queue_ms", "inference_ms")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_US_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    timestamp_us: int
    image: Image
    error: FrameError
    dropped: _containers.RepeatedScalarFieldContainer[int]
    queue_ms: float
    inference_ms: float
    def __init__(self, sequence: _Optional[int] = ..., timestamp_us: _Optional[int] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., error: _Optional[_Union[FrameError, _Mapping]] = ..., dropped: _Optional[_Iterable[int]] = ..., queue_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ...) -> None: ...

class VideoConfig(_message.Message):
    __slots__ = ("model", "codec", "bit_rate", "container", "output_width", "output_height", "side_by_side", "temporal", "scale")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    BIT_RATE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SIDE_BY_SIDE_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    model: str
    codec: str
    bit_rate: int
    container: str
    output_width: int
    output_height: int
    side_by_side: bool
    temporal: TemporalFilter
    scale: str
    def __init__(self, model: _Optional[str] = ..., codec: _Optional[str] = ..., bit_rate: _Optional[int] = ..., container: _Optional[str] = ..., output_width: _Optional[int] = ..., output_height: _Optional[int] = ..., side_by_side: _Optional[bool] = ..., temporal: _Optional[_Union[TemporalFilter, str]] = ..., scale: _Optional[str] = ...) -> None: ...

class VideoRequest(_message.Message):
    __slots__ = ("config", "chunk", "last", "stop")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    config: VideoConfig
    chunk: bytes
    last: bool
    stop: bool
    def __init__(self, config: _Optional[_Union[VideoConfig, _Mapping]] = ..., chunk: _Optional[bytes] = ..., last: _Optional[bool] = ..., stop: _Optional[bool] = ...) -> None: ...

class VideoProgress(_message.Message):
    __slots__ = ("frames_done", "frames_total")
    FRAMES_DONE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    frames_done: int
    frames_total: int
    def __init__(self, frames_done: _Optional[int] = ..., frames_total: _Optional[int] = ...) -> None: ...

class VideoInfo(_message.Message):
    __slots__ = ("frames", "fps", "duration_s", "width", "height", "has_audio", "codec")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    HAS_AUDIO_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    has_audio: bool
    codec: str
    def __init__(self, frames: _Optional[int] = ..., fps: _Optional[float] = ..., duration_s: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., has_audio: _Optional[bool] = ..., codec: _Optional[str] = ...) -> None: ...

class VideoResponse(_message.Message):
    __slots__ = ("progress", "chunk", "done")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    progress: VideoProgress
    chunk: bytes
    done: VideoInfo
    def __init__(self, progress: _Optional[_Union[VideoProgress, _Mapping]] = ..., chunk: _Optional[bytes] = ..., done: _Optional[_Union[VideoInfo, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "description", "input_width", "input_height", "direction", "input_transform", "input_transform_params", "precision", "backend", "max_batch", "metadata_json", "size_multiple", "min_width", "min_height", "max_width", "max_height", "crop_size", "scale")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    INPUT_TRANSFORM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    SIZE_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    MIN_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MIN_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CROP_SIZE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    input_width: int
    input_height: int
    direction: str
    input_transform: str
    input_transform_params: str
    precision: str
    backend: str
    max_batch: int
    metadata_json: str
    size_multiple: int
    min_width: int
    min_height: int
    max_width: int
    max_height: int
    crop_size: int
    scale: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., input_width: _Optional[int] = ..., input_height: _Optional[int] = ..., direction: _Optional[str] = ..., input_transform: _Optional[str] = ..., input_transform_params: _Optional[str] = ..., precision: _Optional[str] = ..., backend: _Optional[str] = ..., max_batch: _Optional[int] = ..., metadata_json: _Optional[str] = ..., size_multiple: _Optional[int] = ..., min_width: _Optional[int] = ..., min_height: _Optional[int] = ..., max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., crop_size: _Optional[int] = ..., scale: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...
