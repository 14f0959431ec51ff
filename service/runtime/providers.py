"""Chooses ONNX Runtime execution providers: CUDA when asked for or available, else the CPU."""

from __future__ import annotations

import contextlib

import onnxruntime as ort

from service.errors import ProviderUnavailable
from service.settings import ProviderChoice

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def providers_for(choice: ProviderChoice) -> list[str]:
    """The provider list to open sessions with; raises when ``cuda`` cannot be honoured."""
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
        return [CUDA, CPU]
    return [CPU]


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
