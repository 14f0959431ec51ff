"""Chooses ONNX Runtime execution providers: CUDA when asked for or available, else the CPU."""

from __future__ import annotations

import contextlib

import onnxruntime as ort

from rnn_serve.service.errors import ProviderUnavailable
from rnn_serve.service.settings import ProviderChoice

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# A provider by name, or with its options, as ONNX Runtime takes them.
Provider = str | tuple[str, dict[str, str]]


def providers_for(choice: ProviderChoice, tf32: bool = False) -> list[Provider]:
    """The provider list to open sessions with; raises when ``cuda`` cannot be honoured.
    CUDA runs with TF32 off unless ``tf32``: its matrix products round inputs to 10 bits of
    mantissa, which moved answers by up to 4.5e-3 in the one run on a GPU (README, GPU)."""
    if choice == "cpu":
        return [CPU]
    cuda_built = CUDA in ort.get_available_providers()
    if choice == "cuda" and not cuda_built:
        raise ProviderUnavailable(
            "provider 'cuda' was requested but this onnxruntime has no CUDAExecutionProvider; "
            "install the 'gpu' extra (onnxruntime-gpu) or set RNN_SERVE_PROVIDER=cpu"
        )
    if cuda_built:
        _preload_cuda_libraries()
        return [(CUDA, {"use_tf32": "1" if tf32 else "0"}), CPU]
    return [CPU]


def cpu_beside(choice: ProviderChoice, providers: list[Provider]) -> list[Provider] | None:
    """With ``auto`` on a GPU, the CPU's providers for a second session of each model: calls
    go to whichever device the cost model expects to finish them sooner (small ones: the CPU)."""
    return [CPU] if choice == "auto" and name_of(providers[0]) == CUDA else None


def name_of(provider: Provider) -> str:
    return provider if isinstance(provider, str) else provider[0]


def device_of(provider: str) -> str:
    """The device a session runs on, as metrics and metadata name it."""
    return "cuda" if provider == CUDA else "cpu"


def check_session_provider(choice: ProviderChoice, in_use: str) -> None:
    """ORT silently falls back to the CPU when CUDA fails to initialise; ``cuda`` must not."""
    if choice == "cuda" and in_use != CUDA:
        raise ProviderUnavailable(
            f"provider 'cuda' was requested but ONNX Runtime could not use the GPU "
            f"(session runs on {in_use}); check the driver and CUDA libraries"
        )


def _preload_cuda_libraries() -> None:
    # onnxruntime-gpu >= 1.21 can load the CUDA and cuDNN libraries installed from PyPI wheels.
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        with contextlib.suppress(Exception):  # a failed preload only means CUDA is unavailable
            preload()
