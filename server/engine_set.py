"""The engines a server has loaded: one backend, one batcher and one input transform per model."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path


from pix2pix_stream.engines.runtime.backend import Backend
from pix2pix_stream.engines.runtime.metadata import EngineMetadata
from pix2pix_stream.media.geometry import EngineGeometry
from pix2pix_stream.media.transforms import InputTransform
from pix2pix_stream.protos import translator_pb2 as pb
from pix2pix_stream.server.batcher import Batcher
from pix2pix_stream.server.errors import ModelNotFoundError, StartupError
from pix2pix_stream.server.public_metadata import public_metadata

log = logging.getLogger("pix2pix.server")


@dataclass
class LoadedModel:
    name: str
    engine_dir: Path
    metadata: EngineMetadata
    backend: Backend
    batcher: Batcher
    transform: InputTransform

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) the engine was trained at (its only size if it is a fixed-size one)."""
        return self.backend.info.input_width, self.backend.info.input_height

    @property
    def geometry(self) -> EngineGeometry:
        """The sizes the engine takes, for media.geometry.plan_compute."""
        return self.metadata.geometry

    def info(self, scale: str = "engine") -> pb.ModelInfo:
        """``scale``: the server's default compute-size policy, shown with the engine's limits."""
        meta, backend_info, geometry = self.metadata, self.backend.info, self.geometry
        return pb.ModelInfo(
            size_multiple=geometry.size_multiple, min_width=geometry.min_size[1],
            min_height=geometry.min_size[0], max_width=geometry.max_size[1],
            max_height=geometry.max_size[0], crop_size=geometry.crop_size,
            scale=scale if geometry.fixed is None else "fixed",
            name=self.name, description=meta.description, input_width=backend_info.input_width,
            input_height=backend_info.input_height, direction=meta.direction,
            input_transform=self.transform.name,
            input_transform_params=json.dumps(self.transform.params, sort_keys=True),
            precision=backend_info.precision, backend=backend_info.backend,
            max_batch=self.batcher.max_batch, metadata_json=json.dumps(public_metadata(meta.to_dict())))


class ModelSet:
    def __init__(self, models: list[LoadedModel]):
        self._models = {m.name: m for m in models}

    @classmethod
    def load(cls, engines_dir: Path, *, backend: str, max_batch: int, max_delay_s: float,
             observer_for, threads: int | None = None, spinning: str = "always"
             ) -> "ModelSet":
        """Loads every engine under ``engines_dir`` (or the one engine directory it names).
        ``observer_for(name)`` gives each model's batch observer (metrics)."""
        from pix2pix_stream.engines.runtime.registry import load_backend, scan_engines

        found, problems = scan_engines(engines_dir)
        for problem in problems:
            log.warning("skipping engine: %s", problem)
        if not found:
            raise StartupError(f"no engines found in {engines_dir}"
                               + "".join(f"; skipped {problem}" for problem in problems))
        models: list[LoadedModel] = []
        try:
            for engine_dir, meta in found:
                if any(m.name == meta.name for m in models):
                    raise StartupError(f"two engines are named {meta.name!r} in {engines_dir}")
                # spinning is a hint: the registry leaves it out for backends that do not spin
                options = {"spinning": spinning, **({"threads": threads} if threads else {})}
                loaded = load_backend(engine_dir, backend, max_batch=max_batch, **options)
                models.append(LoadedModel(
                    name=meta.name, engine_dir=Path(engine_dir), metadata=meta, backend=loaded,
                    batcher=Batcher(loaded, max_batch=max_batch, max_delay_s=max_delay_s,
                                    observer=observer_for(meta.name)),
                    transform=meta.transform))
                info = loaded.info
                log.info("loaded %s from %s: %s on %s, %dx%d, %s, max batch %d, transform %s, "
                         "sizes: %s", meta.name, engine_dir, info.backend, info.device,
                         info.input_width, info.input_height, info.precision,
                         models[-1].batcher.max_batch, meta.transform.name,
                         meta.geometry.describe())
        except BaseException:
            cls(models).close()
            raise
        return cls(models)

    def get(self, name: str) -> LoadedModel:
        try:
            return self._models[name]
        except KeyError:
            available = ", ".join(sorted(self._models)) or "none"
            raise ModelNotFoundError(f"no model named {name!r}; loaded: {available}") from None

    @property
    def names(self) -> list[str]:
        return sorted(self._models)

    def __iter__(self):
        return iter(self._models[name] for name in self.names)

    def close(self, timeout: float | None = None) -> None:
        for model in self._models.values():
            model.batcher.close(timeout)
            model.backend.close()
