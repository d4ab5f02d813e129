"""Training in many processes with torchrun: who this process is, the process group, and what ranks agree on.

``torchrun --nproc_per_node=N -m stylebank train ...`` starts N copies of the command; torchrun's environment
(RANK, WORLD_SIZE, LOCAL_RANK) tells each which it is. A plain ``stylebank train`` is rank 0 of 1, and nothing
here does anything for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import StyleBankError


@dataclass(frozen=True)
class Processes:
    """This process's place among those training one model."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # its index on its machine: which GPU it uses
    # torchrun passes a Ctrl-C or SIGTERM on to its processes, which may so get a stop signal twice
    under_torchrun: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the model, the checkpoints, the log, the previews and the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def from_environment() -> Processes:
    """The process's place as torchrun's environment gives it (rank 0 of 1 without torchrun)."""
    return Processes(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)), "TORCHELASTIC_RUN_ID" in os.environ)


def check_batch_split(batch_size: int, processes: Processes) -> None:
    """--batch-size is the global batch, split across the processes: each needs a part."""
    if batch_size < processes.world_size:
        raise StyleBankError(f"--batch-size {batch_size} is the batch of all {processes.world_size} processes "
                             f"together, and each needs at least one image: give at least {processes.world_size}")


def join(processes: Processes, device: torch.device) -> None:
    """Join the process group (NCCL between GPUs, gloo on CPUs) once per process; nothing for a single one."""
    if processes.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)


def leave() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def process_device(device: torch.device, processes: Processes) -> torch.device:
    """The GPU of this process (its LOCAL_RANK) where ``device`` is CUDA without an index; ``device`` otherwise."""
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", processes.local_rank)
        torch.cuda.set_device(device)
    return device


def summed(values: torch.Tensor, processes: Processes) -> torch.Tensor:
    """``values`` summed over every process (a copy; ``values`` itself for a single process)."""
    if not processes.distributed:
        return values
    total = values.clone()
    dist.all_reduce(total)
    return total


def barrier(processes: Processes) -> None:
    """Wait until every process is here."""
    if processes.distributed:
        dist.barrier()
