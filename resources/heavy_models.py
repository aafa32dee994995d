"""The heavy-model runtime: device, dtype, quantization, safe offline loading, memory and OOM backoff.

Every heavy asset (vision-language model, speech recognition, detector) runs its model through one
`HeavyModelRuntime.session(spec)` and carries `pool="gpu"`, so the instance runs one at a time:

    @asset(pool=GPU_POOL, op_tags=GPU_OP_TAGS, code_version=spec.code_version(), ...)
    def objects(context, heavy_models: HeavyModelRuntime, sampled_frames):
        with heavy_models.session(spec, log=context.log) as heavy:
            model = heavy.load_pretrained(AutoModelForObjectDetection)     # transformers models
            # or: model = heavy.load(lambda: WhisperModel(heavy.model_path, device=heavy.device.type))
            events = heavy.shrink_on_oom(lambda batch: detect(model, frames, batch), 16, lambda b: b // 2 or None)
        context.add_output_metadata(heavy.metadata)  # model, device, load_s, peak memory, OOM steps

At the end of the `with` block the session drops its reference to the model, collects garbage and
empties the CUDA cache; hold no other reference past it. One exception: a model loaded with
`heavy.load(..., keep_loaded=True)` on the CPU stays resident in this process (one at a time), so the
next run of the same spec in the same process (the files of one `video-timeline analyze` call, a
backfill) reuses it instead of loading it again; loading any other heavy model drops it first. On a
GPU nothing stays resident: a model is freed when its step ends, so the `gpu` pool's one slot still
means one model on the GPU across all processes.

Nothing here imports torch unless a model needs it: the device is chosen without torch on a machine
without an NVIDIA driver, so a Whisper (CTranslate2) step does not pay torch's seconds of import.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dagster import ConfigurableResource
from pydantic import Field

from analyzers.process_memory import peak_rss_bytes as _rss_peak_bytes
from analyzers.process_memory import reset_peak_rss as _reset_rss_peak
from resources.model_specs import ModelSpec

if TYPE_CHECKING:  # torch is imported where a model runs, not when the code location loads
    import torch

GPU_POOL = "gpu"
GPU_QUEUE = "gpu"  # the Celery queue that only GPU workers serve (deploy/celery/)
# Op tags of every heavy asset: on Kubernetes (k8s_job_executor) its step pod requests one GPU; with
# Celery (dagster-celery) the step goes to the `gpu` queue; other executors ignore them.
# deploy/k8s/, deploy/celery/ and docs/heavy_models.md.
GPU_OP_TAGS = {
    "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}},
    "dagster-celery/queue": GPU_QUEUE,
}
# Environment switches that keep huggingface_hub / transformers from reaching a hub.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

Work = TypeVar("Work")
Result = TypeVar("Result")


class ModelWeightsMissing(FileNotFoundError):
    """The weights of a configured model are not on this machine."""


class UnsafeWeights(ValueError):
    """A model folder whose weights are only pickles (*.bin, *.pt): loading them can run code."""


class HeavyOutOfMemory(RuntimeError):
    """Out of memory even at the smallest unit of work."""


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OOM, or an OOM reported by another runtime (CTranslate2, cuDNN) as a RuntimeError."""
    torch = sys.modules.get("torch")  # a model that ran on torch has imported it
    return (torch is not None and isinstance(exc, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _looks_like_path(model: str) -> bool:
    """A hub id is "name" or "owner/name"; anything else is meant as a folder."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def _nvidia_driver_present() -> bool:
    """False only where a CUDA GPU is surely absent (Linux without the NVIDIA driver), which is known without
    importing torch; elsewhere torch has to be asked."""
    if not sys.platform.startswith("linux"):
        return True
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def cuda_available() -> bool:
    """torch.cuda.is_available(), without importing torch on a machine that has no NVIDIA driver."""
    if "torch" not in sys.modules and not _nvidia_driver_present():
        return False
    import torch

    return torch.cuda.is_available()


_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


class _Resident:
    """The model kept loaded on the CPU between sessions of this process (at most one)."""

    lock = threading.Lock()
    key: str | None = None
    model: Any = None
    load_s: float = 0.0

    @classmethod
    def drop(cls) -> None:
        cls.key, cls.model, cls.load_s = None, None, 0.0
        gc.collect()


class HeavyModelSession:
    """One model's lifetime inside `HeavyModelRuntime.session`: load, run, measured; freed at exit."""

    def __init__(self, runtime: HeavyModelRuntime, spec: ModelSpec, log: logging.Logger | Any):
        self.spec, self.runtime, self.log = spec, runtime, log
        self.device_name = runtime.device_name()
        self.model_path = runtime.resolve_model_path(spec)
        self.model: Any = None
        self.oom_steps: list[dict] = []
        self.metadata: dict[str, Any] = {
            "model": spec.model,
            "revision": spec.revision or "default",
            "device": self.device_name,
            "dtype": self._dtype_name(),
            "quantization": spec.quantization or "none",
            "memory_budget_gb": spec.memory_budget_gb,
            "offline": runtime.offline,
            "host": socket.gethostname(),
        }

    @property
    def on_cuda(self) -> bool:
        return self.device_name.startswith("cuda")

    @property
    def device(self) -> torch.device:
        """The torch device (imports torch: for torch models)."""
        import torch

        return torch.device(self.device_name)

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype of the spec on this device (imports torch: for torch models)."""
        return self.runtime.resolve_dtype(self.spec, self.device)

    def _dtype_name(self) -> str:
        if self.spec.dtype != "auto":
            return self.spec.dtype
        return str(self.dtype).removeprefix("torch.") if self.on_cuda else "float32"

    # -- loading ------------------------------------------------------------------------------
    def pretrained_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any transformers `from_pretrained` of `model_path` (the revision is
        already chosen: `model_path` is the spec's folder or the cached snapshot of its revision)."""
        kwargs: dict[str, Any] = {
            "dtype": self.dtype,
            "use_safetensors": True,
            "trust_remote_code": self.spec.trust_remote_code,
            "local_files_only": self.runtime.offline,
        }
        if self.spec.quantization:
            kwargs["quantization_config"] = self.runtime.quantization_config(self.spec, self.device)
            kwargs["device_map"] = {"": self.device.index or 0}
        return kwargs

    def load(
        self, loader: Callable[[], Any], dtype_of: Callable[[Any], str] | None = None, keep_loaded: bool = False
    ) -> Any:
        """Runs `loader` (which loads from `self.model_path`), timing it; a missing-weights error names the model.
        `dtype_of(model)`: the precision a model not run by torch really has (CTranslate2's compute type).
        `keep_loaded`: on the CPU, the model stays resident after the session and a later session of the same
        spec, folder and device in this process gets it without loading (`reused_model` in the metadata)."""
        keep = keep_loaded and self.runtime.keep_loaded and not self.on_cuda
        key = json.dumps([self.spec.as_dict(), str(self.model_path), self.device_name, loader.__qualname__])
        with _Resident.lock:
            if keep and _Resident.key == key:
                model, self.metadata["load_s"], self.metadata["reused_model"] = _Resident.model, 0.0, True
            else:
                _Resident.drop()  # one heavy model in memory at a time: the resident one goes first
                model = self._load(loader)
                if keep:
                    _Resident.key, _Resident.model, _Resident.load_s = key, model, self.metadata["load_s"]
        if dtype_of:
            self.metadata["dtype"] = dtype_of(model)
        self.model = model
        done = "reused the loaded" if self.metadata.get("reused_model") else "loaded"
        self.log.info(
            f"{self.spec.name}: {done} {self.spec.model} on {self.device_name} ({self.metadata['dtype']}) "
            f"in {self.metadata['load_s']} s"
        )
        return model

    def _load(self, loader: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            model = loader()
        except ModelWeightsMissing:
            raise
        except OSError as exc:  # transformers and most loaders report missing files as OSError
            raise self.runtime.weights_missing(self.spec, str(exc)) from exc
        self.metadata["load_s"] = round(time.perf_counter() - started, 3)
        self.metadata["reused_model"] = False
        return model

    def load_pretrained(self, model_class, **extra) -> Any:
        """`model_class.from_pretrained` through the safe kwargs, moved to the device, in eval mode."""

        folder = Path(self.model_path)
        if not any(folder.glob("*.safetensors")) and any(
            p for pattern in ("*.bin", "*.pt", "*.pth") for p in folder.glob(pattern)
        ):
            raise UnsafeWeights(
                f"model spec [{self.spec.name}]: {folder} holds only pickle weights (*.bin/*.pt), which can run "
                "code when loaded; only safetensors are loaded. Convert them (load once in a sandbox, "
                "save_pretrained) and point "
                f"[{self.spec.name}] model at the converted folder."
            )

        def loader():
            model = model_class.from_pretrained(self.model_path, **self.pretrained_kwargs(), **extra)
            if not self.spec.quantization:  # bitsandbytes places the weights itself
                model = model.to(self.device)
            return model.eval()

        return self.load(loader)

    # -- running ------------------------------------------------------------------------------
    def free_cache(self) -> None:
        gc.collect()
        if self.on_cuda:
            import torch

            torch.cuda.empty_cache()

    def shrink_on_oom(
        self,
        run: Callable[[Work], Result],
        work: Work,
        shrink: Callable[[Work, BaseException], Work | None],
        describe: Callable[[Work], str] = str,
    ) -> Result:
        """`run(work)`; on out of memory frees the cache, asks `shrink(work, error)` for smaller work
        and retries. Each step is logged and kept in `metadata["oom_steps"]`; when `shrink` returns
        None (nothing smaller exists) raises HeavyOutOfMemory naming the model and the unit."""
        while True:
            try:
                return run(work)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self.free_cache()
                smaller = shrink(work, exc)
                step = {
                    "error": str(exc).splitlines()[0][:300],
                    "from": describe(work),
                    "to": None if smaller is None else describe(smaller),
                }
                self.oom_steps.append(step)
                if smaller is None:
                    self.log.error(f"{self.spec.name}: out of memory at the smallest unit ({step['from']})")
                    raise HeavyOutOfMemory(
                        f"{self.spec.name} ({self.spec.model}) runs out of memory on {self.device_name} even at the "
                        "smallest unit of work "
                        f"({step['from']}); use a smaller model, quantization (8bit/4bit) or a device with more memory"
                    ) from exc
                self.log.warning(f"{self.spec.name}: out of memory, retrying with {step['to']} (was {step['from']})")
                work = smaller

    # -- lifetime -----------------------------------------------------------------------------
    def _start(self) -> None:
        from analyzers import frame_cache

        frame_cache.release()  # the frames the CPU frame models shared: the heavy model's memory comes first
        if self.on_cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)
            if self.spec.memory_budget_bytes:
                total = torch.cuda.get_device_properties(self.device).total_memory
                torch.cuda.set_per_process_memory_fraction(min(1.0, self.spec.memory_budget_bytes / total), self.device)
        else:
            self.metadata["peak_rss_scope"] = "session" if _reset_rss_peak() else "process"

    def _finish(self) -> None:
        self.model = None
        self.free_cache()
        if self.on_cuda:
            import torch

            self.metadata["peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(self.device))
            self.metadata["peak_memory_kind"] = "cuda_max_allocated"
            torch.cuda.set_per_process_memory_fraction(1.0, self.device)
        else:
            self.metadata["peak_memory_bytes"] = _rss_peak_bytes()
            self.metadata["peak_memory_kind"] = "process_peak_rss"
        self.metadata["peak_memory_gib"] = round(self.metadata["peak_memory_bytes"] / 1024**3, 3)
        self.metadata["oom_retries"] = len(self.oom_steps)
        self.metadata["oom_steps"] = list(self.oom_steps)


class HeavyModelRuntime(ConfigurableResource):
    """Where and how heavy models run. One instance serves every heavy asset."""

    device: str = Field(default="auto", description="'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
    offline: bool = Field(
        default=True, description="Load only files already on this machine (local_files_only, HF_HUB_OFFLINE)."
    )
    keep_loaded: bool = Field(
        default=True,
        description="On the CPU, keep a model whose asset asks for it (Whisper) loaded for the next run in the "
        "same process (the files of one `analyze` call); never on a GPU.",
    )

    def device_name(self) -> str:
        """'cpu', 'cuda' or 'cuda:N', chosen without importing torch on a machine without an NVIDIA driver."""
        if self.device == "auto":
            return "cuda:0" if cuda_available() else "cpu"
        if not _DEVICE.fullmatch(self.device):
            raise ValueError(f"heavy_models.device is {self.device!r}: expected 'auto', 'cpu', 'cuda' or 'cuda:N'")
        if self.device.startswith("cuda") and not cuda_available():
            raise RuntimeError(
                f"heavy_models.device is {self.device!r} but CUDA is not available on {socket.gethostname()}"
            )
        return self.device

    def resolve_device(self) -> torch.device:
        import torch

        return torch.device(self.device_name())

    @staticmethod
    def resolve_dtype(spec: ModelSpec, device: torch.device) -> torch.dtype:
        """The spec's dtype; 'auto' is bfloat16 on CUDA that supports it, float16 on older CUDA, float32 on CPU."""
        import torch

        if spec.dtype != "auto":
            return getattr(torch, spec.dtype)
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32

    def quantization_config(self, spec: ModelSpec, device: torch.device):
        from transformers import BitsAndBytesConfig

        if device.type != "cuda":
            raise ValueError(
                f"model spec {spec.name!r}: {spec.quantization} quantization (bitsandbytes) needs a CUDA device, "
                f"this runs on {device}"
            )
        if spec.quantization == "8bit":
            return BitsAndBytesConfig(load_in_8bit=True)
        compute = self.resolve_dtype(spec, device)
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)

    def weights_missing(self, spec: ModelSpec, reason: str) -> ModelWeightsMissing:
        where = "local folder" if _looks_like_path(spec.model) else "hub id"
        download = f"huggingface-cli download {spec.model}" + (f" --revision {spec.revision}" if spec.revision else "")
        return ModelWeightsMissing(
            f"model spec [{spec.name}]: the weights of {spec.model!r} ({where}, revision "
            f"{spec.revision or 'default'}) are not available on this machine "
            f"({reason.splitlines()[0][:300] if reason else 'not found'}). Provide them: copy the model folder "
            "(config.json, *.safetensors, tokenizer and processor files) to this machine and set "
            'model = "/path/to/folder" in '
            f"[{spec.name}] of models.toml, or fill the Hugging Face cache on a connected machine "
            f"(`{download}`) and copy it to $HF_HOME here. See docs/heavy_models.md."
        )

    def resolve_model_path(self, spec: ModelSpec) -> str:
        """A local folder for the spec: the folder itself, or the cached snapshot of a hub id."""
        folder = Path(spec.model).expanduser()
        if folder.is_dir():
            return str(folder)
        if _looks_like_path(spec.model):
            raise self.weights_missing(spec, f"folder {folder} does not exist")
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(spec.model, revision=spec.revision, local_files_only=self.offline)
        except Exception as exc:
            raise self.weights_missing(spec, f"{type(exc).__name__}: {exc}") from exc

    @contextmanager
    def session(self, spec: ModelSpec, log: logging.Logger | Any | None = None) -> Iterator[HeavyModelSession]:
        if self.offline:
            os.environ.update(OFFLINE_ENV)
        session = HeavyModelSession(self, spec, log or logging.getLogger(__name__))
        session._start()
        try:
            yield session
        finally:
            session._finish()
