"""Scale-out with ``torchrun``: DistributedDataParallel when the launcher set WORLD_SIZE > 1.

``torchrun --nproc_per_node=K -m segrap_nb train ...`` starts K copies of the same entry
point; each joins the process group (NCCL on CUDA, gloo on CPU), trains on its own share of
the sample numbers (rank r takes r, r + K, ...: :class:`~segrap_nb.training.data.PatchLoader`), and DDP averages the gradients so every rank holds
the same weights. Rank 0 alone validates, logs and writes checkpoints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process sits: rank, world size and local rank (0, 1, 0 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs and saves)."""
        return self.rank == 0


def from_env() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment variables."""
    return DistInfo(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init(device: torch.device | None = None) -> DistInfo:
    """Join the process group when launched by torchrun (NCCL on CUDA, else gloo)."""
    info = from_env()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return info


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    """Leave the process group."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-1 of every trainable parameter's bytes: equal digests = identical weights.

    Buffers (batch-norm running statistics) are left out: without SyncBatchNorm each rank
    updates them from its own patches.
    """
    h = hashlib.sha1()
    for name, t in sorted(model.named_parameters()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
