"""Choosing where torch runs: CUDA, then Apple MPS, then the CPU (leaving the GUI a core)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import InputError

__all__ = ["DeviceInfo", "pick_device", "describe_devices", "cpu_threads_leaving_one_core", "cpu_count"]


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # what torch.device() accepts: "cpu", "cuda:0", "mps"
    kind: str  # "cpu" | "cuda" | "mps"
    description: str  # human-readable, e.g. "NVIDIA H100 80GB HBM3"
    memory_bytes: int | None
    cores: int | None


def cpu_count() -> int:
    """CPU cores this process may use (respects affinity masks and containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_threads_leaving_one_core() -> int:
    """Threads for torch on the CPU that leave one core free for the GUI (at least one)."""
    return max(1, cpu_count() - 1)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` → CUDA, then MPS, then CPU. Explicit names are checked; unusable ones raise InputError."""
    key = str(name or "auto").strip().lower()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(key)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} asked for, but this torch build sees no CUDA GPU; use --device cpu")
        index = 0 if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise InputError(f"there is no GPU {index}; this machine has {torch.cuda.device_count()}")
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise InputError("device 'mps' asked for, but Apple Metal is not available here; use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device type {device.type!r} is not supported; use auto, cpu, cuda or mps")
    return device


def describe_devices() -> list[DeviceInfo]:
    """Every device torch can use here, the CPU last."""
    found: list[DeviceInfo] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            found.append(DeviceInfo(f"cuda:{index}", "cuda", props.name, int(props.total_memory),
                                    getattr(props, "multi_processor_count", None)))
    if _mps_available():
        found.append(DeviceInfo("mps", "mps", "Apple Metal (MPS)", None, None))
    found.append(DeviceInfo("cpu", "cpu", f"CPU ({cpu_count()} cores)", _system_memory(), cpu_count()))
    return found


def _system_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None
