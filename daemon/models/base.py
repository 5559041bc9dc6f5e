"""The lifecycle every model adapter shares, and the runtime behind a small protocol.

After Immich's machine-learning service (``immich_ml/models/base.py`` and
``sessions/ort.py``): the base class owns the lifecycle — weights resolved on
first use, the runtime loaded lazily, unloaded after an idle while — and each
model family writes only ``_load`` and its predict method. Per-request options
(score floors, batch sizes) are arguments of those methods, never state set on
the shared instance, so concurrent callers cannot interfere.

The runtime sits behind :class:`ModelSession` (inputs, outputs, run), so an
adapter does not care whether onnxruntime or something else runs its graph, and
tests can hand it any session. Which device to use is decided once per runtime
and per process, and logged.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pximse.models.weights import DownloadProgress, WeightsSpec, model_digest, resolve_weights

__all__ = [
    "InferenceModel",
    "ModelSession",
    "OrtSession",
    "TensorInfo",
    "WeightsSource",
    "detect_device",
]

log = logging.getLogger(__name__)

Runtime = Literal["onnxruntime", "torch"]


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its name, shape (str or None for a free axis) and
    element type as onnxruntime names it (``tensor(float)``, ``tensor(int32)``)."""

    name: str
    shape: tuple[int | str | None, ...]
    type: str = ""


class ModelSession(Protocol):
    """What an adapter needs from a runtime (Immich's ``ModelSession``)."""

    device: str

    def get_inputs(self) -> Sequence[TensorInfo]: ...

    def get_outputs(self) -> Sequence[TensorInfo]: ...

    def run(self, feed: Mapping[str, Any], output_names: Sequence[str] | None = None) -> list[Any]:
        """The outputs (all, or those named) for one batch of inputs."""


@functools.cache
def detect_device(runtime: Runtime = "onnxruntime") -> str:
    """``cuda:0`` when the runtime can use an NVIDIA GPU, else ``cpu``; decided once.

    Each runtime is asked only about itself, so an onnxruntime model never
    imports torch (seconds, and a GPU context) just to pick a device.
    """
    device = "cpu"
    if runtime == "onnxruntime":
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" in providers:
            device = "cuda:0"
        log.info(
            "onnxruntime %s: providers %s, using %s", onnxruntime.__version__, providers, device
        )
    elif importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            device = "cuda:0"
        log.info("torch %s: using %s", torch.__version__, device)
    return device


class OrtSession:
    """An onnxruntime ``InferenceSession`` behind :class:`ModelSession`.

    ``device`` is where the session really runs: onnxruntime-gpu lists the CUDA
    provider even when the CUDA libraries it needs are missing, and then falls
    back to the CPU, which is logged here once per model.
    """

    def __init__(self, path: Path, device: str = "cpu", *, intra_op_threads: int = 0) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: indexing shares the machine, and
        # on a busy CPU spinning threads only take turns from the working ones
        # (ViT-B-32's image tower: 14% more images/s without, on 2 shared cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            providers.insert(0, "CUDAExecutionProvider")
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=providers
        )
        active = self._session.get_providers()
        self.device = "cuda:0" if "CUDAExecutionProvider" in active else "cpu"
        if self.device != device:
            log.warning(
                "%s: asked for %s, runs on %s (providers %s)", path, device, self.device, active
            )

    def get_inputs(self) -> list[TensorInfo]:
        return [TensorInfo(i.name, tuple(i.shape), i.type) for i in self._session.get_inputs()]

    def get_outputs(self) -> list[TensorInfo]:
        return [TensorInfo(o.name, tuple(o.shape), o.type) for o in self._session.get_outputs()]

    def run(self, feed: Mapping[str, Any], output_names: Sequence[str] | None = None) -> list[Any]:
        names = None if output_names is None else list(output_names)
        return list(self._session.run(names, dict(feed)))


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's files may come from (see :func:`pximse.models.weights.resolve_weights`)."""

    data_dir: Path
    local_path: Path | None = None
    allow_download: bool = False
    progress: DownloadProgress | None = None
    missing_hint: str = "or set models.allow_download = true"
    """How a missing-weights message ends when downloads are not allowed here."""


class InferenceModel(ABC):
    """Lazy lifecycle: resolve weights, load on first use, unload when idle.

    ``model_id`` is ``<name>:<digest of the weights' bytes>``: it resolves the
    files (which may raise :class:`~pximse.models.weights.WeightsUnavailable`)
    but does not load the runtime, so the pipeline can tell which images need
    this model before paying for loading it.
    """

    runtime: Runtime = "onnxruntime"

    def __init__(
        self,
        spec: WeightsSpec,
        source: WeightsSource,
        *,
        device: str | None = None,
        idle_unload_s: float | None = None,
    ) -> None:
        self.spec = spec
        self.source = source
        self._requested_device = device
        self.idle_unload_s = idle_unload_s
        self._lock = threading.RLock()
        self._files: dict[str, Path] | None = None
        self._model_id: str | None = None
        self._loaded_device: str | None = None
        self._in_flight = 0
        self._last_used = 0.0
        self._idle_timer: threading.Timer | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def files(self) -> dict[str, Path]:
        with self._lock:
            if self._files is None:
                self._files = resolve_weights(
                    self.spec,
                    data_dir=self.source.data_dir,
                    local_path=self.source.local_path,
                    allow_download=self.source.allow_download,
                    progress=self.source.progress,
                    missing_hint=self.source.missing_hint,
                )
            return self._files

    @property
    def model_id(self) -> str:
        with self._lock:
            if self._model_id is None:
                digest = model_digest(self.files, data_dir=self.source.data_dir)
                self._model_id = f"{self.name}:{digest}"
            return self._model_id

    @property
    def device(self) -> str:
        """Where it runs once loaded (where it will run, before that)."""
        if self._loaded_device is not None:
            return self._loaded_device
        return self._requested_device or detect_device(self.runtime)

    @property
    def loaded(self) -> bool:
        return self._loaded_device is not None

    def load(self) -> None:
        with self._lock:
            if self._loaded_device is not None:
                return
            started = time.perf_counter()
            wanted = self._requested_device or detect_device(self.runtime)
            self._loaded_device = self._load(self.files, wanted)
            log.info(
                "loaded %s on %s in %.2fs",
                self.model_id,
                self._loaded_device,
                time.perf_counter() - started,
            )

    def unload(self) -> None:
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            if self._loaded_device is None:
                return
            self._release()
            self._loaded_device = None
            log.info("unloaded %s", self._model_id or self.name)

    @abstractmethod
    def _load(self, files: Mapping[str, Path], device: str) -> str:
        """Load the runtime from ``files`` onto ``device``; return where it really runs."""

    @abstractmethod
    def _release(self) -> None:
        """Drop the runtime objects so their memory can be freed."""

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        """Wrap each predict call: loads on first use, keeps idle unloading away."""
        with self._lock:
            self.load()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._last_used = time.monotonic()
                self._schedule_idle_unload(self.idle_unload_s)

    def _schedule_idle_unload(self, delay_s: float | None) -> None:
        if delay_s is None or self._idle_timer is not None:
            return
        timer = threading.Timer(delay_s, self._unload_if_idle)
        timer.daemon = True
        self._idle_timer = timer
        timer.start()

    def _unload_if_idle(self) -> None:
        with self._lock:
            self._idle_timer = None
            if self.idle_unload_s is None or self._loaded_device is None:
                return
            remaining = self._last_used + self.idle_unload_s - time.monotonic()
            if self._in_flight or remaining > 0:
                self._schedule_idle_unload(max(remaining, 0.01))
                return
            log.info("%s idle for %.0fs", self.name, self.idle_unload_s)
            self.unload()
