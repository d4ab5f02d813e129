"""Each training step's batch, from the run's seed and the step number alone, loaded by a DataLoader.

A step's global batch (which photos, which crops, which styles) is drawn from a random stream of its own, keyed
on (seed, step). So the batches do not depend on how many DataLoader workers decode them or how many processes
share them, and a resumed run needs nothing but its step: ``--workers 0`` and ``--workers 2`` train the same model
bit for bit, and a run may resume with other counts.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .data import ContentImages, draw_crops
from ..errors import StyleBankError

CROP_STREAM, STYLE_STREAM = 0, 1  # the random streams of a seed: a step's crops, a round of styles
MAX_AUTO_WORKERS = 4


def stream(seed: int, key: int, kind: int) -> torch.Generator:
    """The random stream ``kind`` of step (or round) ``key`` of the run seeded with ``seed``: independent of
    every other (numpy's SeedSequence mixes the three numbers)."""
    state = np.random.SeedSequence([seed % 2**64, key, kind]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def style_indices(seed: int, step: int, batch_size: int, num_styles: int) -> torch.Tensor:
    """The style of each of step ``step``'s ``batch_size`` crops: the run's crops, counted from its start, take
    the styles in shuffled rounds of 0..num_styles-1, so every style is trained equally often."""
    first = step * batch_size
    rounds: dict[int, list[int]] = {}
    chosen = []
    for position in range(first, first + batch_size):
        round_, place = divmod(position, num_styles)
        if round_ not in rounds:
            rounds[round_] = torch.randperm(num_styles, generator=stream(seed, round_, STYLE_STREAM)).tolist()
        chosen.append(rounds[round_][place])
    return torch.tensor(chosen, dtype=torch.long)


def share(batch_size: int, rank: int, world_size: int) -> slice:
    """Process ``rank``'s part of a global batch of ``batch_size``: consecutive, as even as can be."""
    return slice(rank * batch_size // world_size, (rank + 1) * batch_size // world_size)


@dataclass
class StepBatch:
    """One process's part of a step's batch: content crops and the style of each."""

    step: int
    images: torch.Tensor
    styles: torch.Tensor
    notes: list[str] = field(default_factory=list)  # unusable files met while loading it, with their reasons
    error: str | None = None  # why no batch could be made (said by the training process, not a worker)

    def pin_memory(self) -> "StepBatch":  # the DataLoader's pin_memory calls this
        return StepBatch(self.step, self.images.pin_memory(), self.styles.pin_memory(), self.notes, self.error)


class StepBatches(Dataset):
    """The batches of a run, indexed by step: item ``step`` is this process's share of that step's batch."""

    def __init__(self, content: ContentImages, seed: int, batch_size: int, num_styles: int, rank: int = 0,
                 world_size: int = 1):
        self.content, self.seed, self.batch_size, self.num_styles = content, seed, batch_size, num_styles
        self.part = share(batch_size, rank, world_size)

    def __getitem__(self, step: int) -> StepBatch:
        draws = draw_crops(self.batch_size, len(self.content), stream(self.seed, step, CROP_STREAM),
                           self.content.color_jitter)[self.part]
        styles = style_indices(self.seed, step, self.batch_size, self.num_styles)[self.part]
        try:
            with warnings.catch_warnings(record=True) as caught:  # a worker's warnings would not reach the user
                warnings.simplefilter("always")
                images = self.content.crops(draws)
        except StyleBankError as error:
            return StepBatch(step, torch.empty(0), styles, self.content.take_notes(), str(error))
        notes = self.content.take_notes() + [str(w.message) for w in caught]
        return StepBatch(step, images, styles, notes)


def default_workers() -> int:
    """DataLoader workers per training process: half of its share of the cores, at most MAX_AUTO_WORKERS; the
    rest compute."""
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", 1))  # torchrun's processes on this machine
    return min(MAX_AUTO_WORKERS, (os.cpu_count() or 1) // processes // 2)


def start_worker(training_process: int, worker_id: int) -> None:
    """A worker leaves Ctrl-C and SIGTERM to the training process, which checkpoints and then stops it, and ends
    when that process is gone (killed outright): PyTorch's workers watch their parent, which is the fork server."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=end_with, args=(training_process,), daemon=True).start()


def end_with(process: int, interval: float = 1.0) -> None:
    """Exit this process once ``process`` no longer exists (checked every ``interval`` seconds)."""
    while True:
        time.sleep(interval)
        try:
            os.kill(process, 0)
        except (ProcessLookupError, PermissionError):  # gone (PermissionError: its pid is another user's now)
            os._exit(0)


def worker_context() -> multiprocessing.context.BaseContext | None:
    """How DataLoader workers start: from a fork server where there is one (Linux, macOS), never forked from the
    training process itself, whose threads (progress bar, writers, a test runner's) may hold a lock at the fork
    that the child then waits on for ever. The server imports torch and this module once, so workers start fast."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None  # Windows: workers are spawned anyway
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", __name__])
    return context


def step_batches(batches: StepBatches, start: int, stop: int, workers: int, pin_memory: bool = False
                 ) -> Iterable[StepBatch]:
    """The batches of steps ``start`` to ``stop - 1``, in order, decoded by ``workers`` processes (0: this one)."""
    return DataLoader(batches, batch_size=None, sampler=range(start, stop), num_workers=workers,
                      pin_memory=pin_memory, worker_init_fn=partial(start_worker, os.getpid()),  # workers only
                      multiprocessing_context=worker_context() if workers else None)
