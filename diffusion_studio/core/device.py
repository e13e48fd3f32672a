"""Where torch runs and what that device can do: choosing it, its memory, bf16, copies, running out of memory.

Everything that depends on the kind of device (CUDA, Apple MPS, the CPU) is decided here, so the
training loop, the samplers' callers and the GUI ask one place: ``pick_device`` chooses,
``supports_bf16`` / ``available_memory`` describe, ``to_device`` copies safely, and
``out_of_memory_guard`` turns any out-of-memory failure into one message for a person.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from .errors import InputError

__all__ = [
    "DeviceInfo", "pick_device", "describe_devices", "cpu_threads_leaving_one_core", "cpu_count",
    "supports_bf16", "available_memory", "format_bytes", "to_device", "tuned_backends",
    "is_out_of_memory", "out_of_memory_message", "out_of_memory_guard", "release_cached_memory",
]


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


# ---------------------------------------------------------------------------- what a device can do


def supports_bf16(device: torch.device) -> bool:
    """True where bfloat16 runs on real bf16 units: CUDA compute capability ≥ 8 (Ampere on) of *this* GPU.

    ``torch.cuda.is_bf16_supported()`` also says yes where bf16 is emulated (T4, V100, RTX 20xx:
    slower than fp32) and asks the current GPU, not the chosen one.
    """
    if device.type != "cuda":
        return device.type == "cpu"  # CPU autocast supports bf16; MPS trains in fp32 here
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _available_ram() -> int | None:
    """RAM this process can still use: MemAvailable, lowered by a container's (cgroup v2) limit."""
    available = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None and sys.platform == "win32":
        available = _windows_available_ram()
    if available is None:
        total = _system_memory()
        available = total // 2 if total else None  # macOS has no cheap "available"; assume half is
    limit, used = _read_int("/sys/fs/cgroup/memory.max"), _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        available = min(available if available is not None else limit, max(0, limit - used))
    return available


def _windows_available_ram() -> int | None:
    import ctypes

    class MemoryStatus(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    return int(status.ullAvailPhys) if ok else None


def available_memory(device: torch.device) -> tuple[int | None, str]:
    """(bytes ``device`` can still give, what they are), e.g. ``(8.1e9, "free memory on cuda:0")``.

    The CPU: available RAM (a container's limit counts). CUDA: free memory of that GPU.
    MPS: the recommended working set minus what the driver holds (unified memory). None: unknown.
    """
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free), f"free memory on {device}"
    if device.type == "mps":
        mps = getattr(torch, "mps", None)
        try:
            budget = int(mps.recommended_max_memory()) - int(mps.driver_allocated_memory())
            return max(0, budget), "memory Apple's GPU may use"
        except (AttributeError, RuntimeError):
            return _available_ram(), "available memory"
    return _available_ram(), "available RAM"


def format_bytes(num_bytes: float) -> str:
    """``1536`` → ``"1.5 KiB"``; ``3.2e9`` → ``"3.0 GiB"``."""
    value, unit = float(num_bytes), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to ``device``; asynchronous only where that is safe.

    ``non_blocking`` is used for CUDA from pinned memory alone: from an unpinned temporary to
    MPS an asynchronous copy can read memory that is already freed (an open PyTorch bug).
    """
    if tensor.device == device:
        return tensor
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


@contextlib.contextmanager
def tuned_backends(device: torch.device) -> Iterator[None]:
    """cuDNN autotuning while training on CUDA (the shapes are fixed, so the search pays once); restored after."""
    cudnn = torch.backends.cudnn
    before = cudnn.benchmark
    if device.type == "cuda":
        cudnn.benchmark = True
    try:
        yield
    finally:
        cudnn.benchmark = before


# ---------------------------------------------------------------------------- running out of memory


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's ``torch.OutOfMemoryError``, and the RuntimeErrors MPS and the CPU allocator raise instead."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _who(device: torch.device) -> str:
    if device.type == "cuda":
        return f"The GPU ({device})"
    if device.type == "mps":
        return "Apple's GPU (mps)"
    return "This computer"


def out_of_memory_message(device: torch.device, *, batch_size: int, image_size: int,
                          batch_flag: str = "--batch-size", resume_hint: bool = True) -> str:
    """The one sentence shown for any out-of-memory failure; names the batch that failed and half of it."""
    smaller = max(1, batch_size // 2)
    other_programs = "programs using the GPU" if device.type in ("cuda", "mps") else "other programs"
    return (
        f"{_who(device)} ran out of memory with batch size {batch_size} at {image_size} px. "
        f"Try {batch_flag} {smaller}"
        + (" or a smaller model (--preset cpu-tiny / gpu-small) or --image-size" if batch_size <= 1 else "")
        + f"; close {other_programs}"
        + ("; or continue with --resume and a smaller batch." if resume_hint else ".")
    )


def release_cached_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back after a failure, so the next try starts clean."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        with contextlib.suppress(AttributeError, RuntimeError):
            torch.mps.empty_cache()


@contextlib.contextmanager
def out_of_memory_guard(device: torch.device, *, batch_size: int, image_size: int, batch_flag: str = "--batch-size",
                        resume_hint: bool = True, error: type[InputError] = InputError,
                        cleanup: Callable[[], None] | None = None) -> Iterator[None]:
    """Run a block; an out-of-memory failure inside it becomes ``error(out_of_memory_message(...))``.

    For the training step, the optimiser's first update (its moments are allocated then), the
    sample grid and the sampling chain alike::

        with out_of_memory_guard(device, batch_size=16, image_size=64, batch_flag="--num", resume_hint=False):
            frames = list(run_chain(...))
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - only out-of-memory failures are translated
        if not is_out_of_memory(exc):
            raise
        if cleanup is not None:
            cleanup()
        release_cached_memory(device)
        raise error(out_of_memory_message(device, batch_size=batch_size, image_size=image_size,
                                          batch_flag=batch_flag, resume_hint=resume_hint)) from exc
