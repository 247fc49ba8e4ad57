"""The one place that picks the compute device: CUDA, then Apple MPS, then CPU.

Every notebook and command calls :func:`get_device`; nothing else in the kit writes
``.cuda()`` or ``autocast("cuda")``. ``$SEGRAP_DEVICE`` (e.g. ``cpu``) overrides the choice.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from segrap_nb.training.train_config import TrainLoopConfig

#: Environment variable that forces a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
DEVICE_ENV = "SEGRAP_DEVICE"


def get_device(
    prefer: str | None = None, verbose: bool = True, local_rank: int | None = None
) -> torch.device:
    """Best available device (``prefer``, else $SEGRAP_DEVICE, else CUDA > MPS > CPU); printed."""
    name = prefer or os.environ.get(DEVICE_ENV)
    if name:
        device = parse_device(name, "device" if prefer else f"${DEVICE_ENV}")
    elif torch.cuda.is_available():
        device = torch.device("cuda", local_rank if local_rank is not None else 0)
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(f"device: {describe_device(device)}")
    return device


def parse_device(name: str | torch.device, source: str = "device") -> torch.device:
    """``torch.device(name)``, checked: DataError naming ``source`` if unknown or not present here."""
    from segrap_nb.errors import DataError

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise DataError(source, f"unknown device {str(name)!r} (use cpu, cuda, cuda:1 or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(source, f"device {str(name)!r} requested but CUDA is not available here")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DataError(source, f"device {str(name)!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise DataError(source, f"device {str(name)!r} requested but Apple MPS is not available here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DataError(source, f"device {str(name)!r} is not supported (use cpu, cuda, cuda:1 or mps)")
    return device


def describe_device(device: torch.device) -> str:
    """One line naming the device, e.g. ``cuda:0 (NVIDIA T4, 15.8 GB)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        idx = device.index or 0
        props = torch.cuda.get_device_properties(idx)
        return f"cuda:{idx} ({props.name}, {props.total_memory / 1e9:.1f} GB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def use_amp(device: torch.device, wanted: bool = True) -> bool:
    """Mixed precision only on CUDA (float16 autocast + gradient scaling)."""
    return bool(wanted) and device.type == "cuda"


def cpu_bf16_supported() -> bool:
    """True when this CPU computes bfloat16 natively (AVX512-BF16 or AMX): oneDNN's bf16 kernels are fast."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume emulated (slow) bfloat16
        return False


def use_cpu_bf16(device: torch.device, wanted: bool) -> bool:
    """bfloat16 autocast on the CPU: when asked (``train.cpu_bf16``) and the CPU has native bf16."""
    return bool(wanted) and device.type == "cpu" and cpu_bf16_supported()


def autocast_for(device: torch.device, train: TrainLoopConfig) -> torch.autocast:
    """The autocast of a training config: float16 on CUDA (``amp``), bfloat16 on a bf16 CPU (``cpu_bf16``)."""
    if use_cpu_bf16(device, getattr(train, "cpu_bf16", False)):
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return autocast(device, use_amp(device, train.amp))


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """An autocast context for ``device``: float16 on CUDA when enabled, otherwise a no-op."""
    return torch.autocast(
        device_type=device.type, dtype=torch.float16, enabled=enabled and device.type == "cuda"
    )


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    """A gradient scaler, active only for mixed precision on CUDA (a pass-through otherwise)."""
    return torch.amp.GradScaler("cuda", enabled=enabled and device.type == "cuda")


def loader_options(device: torch.device, num_workers: int) -> dict:
    """PatchLoader keyword arguments: ``num_workers`` loader threads; pinned batches only on CUDA."""
    return {"workers": int(num_workers), "pin_memory": device.type == "cuda"}


def tune_backends(device: torch.device) -> None:
    """Enable cuDNN autotuning on CUDA (fast; bitwise reproducibility then holds only on CPU)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = False
