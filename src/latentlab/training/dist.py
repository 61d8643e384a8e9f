"""torchrun's environment -> rank and world size; process-group set-up and teardown."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env() -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK; a plain `python` run is rank 0 of 1."""
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group: nccl on CUDA, gloo elsewhere. No-op for a single process."""
    if info.enabled and not torch_dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch_dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def teardown() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over all ranks in place (identity for a single process)."""
    if torch_dist.is_initialized():
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any rank (used to stop all ranks together)."""
    if not torch_dist.is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())
