"""Multi-process training under ``torchrun``: who am I, which device, and agreeing on a stop.

``torchrun --nproc_per_node N`` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; with
WORLD_SIZE > 1 we join the process group (NCCL on GPUs, gloo on the CPU) and wrap the model
in DistributedDataParallel. Rank 0 alone writes files. Apple's GPU has no multi-process backend:
``--device mps`` under torchrun is refused (it used to train on the CPU without a word).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .device import pick_device
from .errors import InputError

__all__ = ["DistContext", "check_device_for_processes"]


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we called init_process_group, so we tear it down

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_name: str = "auto") -> "DistContext":
        world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world_size <= 1:
            return cls()
        check_device_for_processes(device_name)
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        owns = False
        if not dist.is_initialized():
            backend = "nccl" if _wants_cuda(device_name) else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(local_rank)
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
            owns = True
        return cls(rank, world_size, local_rank, owns)

    def device(self, device_name: str = "auto") -> torch.device:
        """The device of this process: its own GPU (cuda:LOCAL_RANK) under DDP, else ``pick_device``."""
        if not self.enabled:
            return pick_device(device_name)
        check_device_for_processes(device_name)
        if _wants_cuda(device_name):
            if self.local_rank >= torch.cuda.device_count():
                raise InputError(
                    f"process {self.rank} wants GPU {self.local_rank}, but only {torch.cuda.device_count()} "
                    "are visible; lower --nproc_per_node"
                )
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any rank (a stop request must be unanimous)."""
        if not self.enabled:
            return bool(flag)
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def check_device_for_processes(device_name: str) -> None:
    """InputError for a device several processes cannot share here: MPS, or CUDA without a GPU."""
    key = str(device_name or "auto").strip().lower()
    if key.startswith("mps"):
        raise InputError("--device mps cannot be used under torchrun: Apple's GPU has no multi-process backend; "
                         "run without torchrun to train on it, or use --device cpu")
    if key.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device_name} under torchrun, but this torch build sees no CUDA GPU; "
                         "use --device cpu")


def _wants_cuda(device_name: str) -> bool:
    key = str(device_name or "auto").lower()
    return torch.cuda.is_available() and (key == "auto" or key.startswith("cuda"))
