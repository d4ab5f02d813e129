"""What a training run reports as it goes (the main process alone): the JSONL log (each branch's terms averaged
between lines), TensorBoard, the progress bar, and the preview samples."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm import tqdm

from ..atomic import atomic_write
from ..config import TrainConfig
from ..errors import StyleBankError
from ..images import load_image, save_image
from ..model import StyleBankNet
from ..tensors import antialiased_resize, image_grid, resize_to_fit, to_pil, to_tensor
from .board import Board

LOGGED_TERMS = ("content", "style", "tv", "psnr", "grad_ratio")  # shown beside the progress bar


@contextmanager
def reported_write_errors(path: Path | str, what_is_safe: str) -> Iterator[None]:
    """A failed write (full disk, permissions) as one StyleBankError saying what was not lost."""
    try:
        yield
    except OSError as error:
        raise StyleBankError(f"could not write {path} ({error.strerror or error}); {what_is_safe}. Free some space "
                             "or write elsewhere, then run the same command with --resume") from None


class TrainingReport:
    """The log, TensorBoard and preview samples of one run; ``None`` parts for a process that is not the main one.
    ``start(step)`` opens the log and the progress bar, ``add(record)`` takes each iteration's numbers."""

    def __init__(self, config: TrainConfig, is_main: bool, world_size: int):
        self.config, self.is_main, self.world_size = config, is_main, world_size
        # made now: a missing tensorboard package is said before any time is spent
        self.board = Board(config.tensorboard if is_main else None)
        self.since_logged: dict[str, dict[str, list[float]]] = {}  # branch -> term -> values, for the next line
        self.shown: dict[str, float] = {}
        self.log = self.bar = None
        self.started = time.perf_counter()

    def start(self, step: int, progress: bool) -> None:
        """Open the log (dropping what a run past the checkpoint wrote) and the progress bar at ``step``."""
        if self.is_main:
            log_up_to(self.config.log_path, step)
            self.log = open(self.config.log_path, "a")
        self.bar = tqdm(total=self.config.iterations, initial=step, disable=not (progress and self.is_main),
                        unit="it", dynamic_ncols=True)
        self.started = time.perf_counter()

    def add(self, record: dict, skipped: int, next_lr: float) -> None:
        """An iteration's numbers (``record``): kept for the next log line, which is written every log_every steps
        with the learning rate of the next iteration; the bar moves on."""
        step = record["step"]
        self.shown.update({key: record[key] for key in LOGGED_TERMS if key in record})
        terms = self.since_logged.setdefault(record["branch"], {})
        for key, value in record.items():
            if key not in ("step", "branch", "skipped") and math.isfinite(value):  # a skipped step is counted
                terms.setdefault(key, []).append(value)
        if step % self.config.log_every == 0 or step == self.config.iterations:
            self.write_log_lines(step, skipped, next_lr)
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in self.shown.items()}, refresh=False)
        self.bar.update(1)

    def write_log_lines(self, step: int, skipped: int, next_lr: float) -> None:
        """One JSON line per branch trained since the last ones: each term's mean over those iterations (a
        single sample would, with some periods of the alternation, only ever show one branch)."""
        common = {"skipped": skipped, "lr": next_lr, "seconds": round(time.perf_counter() - self.started, 3),
                  "world_size": self.world_size}
        for branch, terms in self.since_logged.items():
            means = {key: sum(values) / len(values) for key, values in terms.items()}
            self.log.write(json.dumps({"step": step, "branch": branch, **means, **common}) + "\n")
            self.board.scalars(step, branch, {**means, "lr": next_lr, "skipped": skipped})
        self.log.flush()
        self.since_logged = {}

    @torch.no_grad()
    def write_samples(self, net: StyleBankNet, step: int, trained: range, style_images: list[torch.Tensor],
                      device: torch.device) -> Path:
        """The held-out preview photo: original, reconstruction and every style ``trained``; style images below."""
        config = self.config
        net.eval()
        preview = resize_to_fit(to_tensor(load_image(config.preview, config.max_pixels)),
                                config.image_size).to(device)
        batch = preview.unsqueeze(0)
        tiles = [preview, net.reconstruct(batch)[0]] + [net(batch, i)[0] for i in trained]
        size = preview.shape[-2:]
        tiles += [torch.ones_like(preview)] * 2 + [antialiased_resize(s.unsqueeze(0), size)[0] for s in style_images]
        grid = image_grid([t.cpu() for t in tiles], columns=2 + len(trained))
        self.board.image(step, grid)
        path = config.samples_dir / f"step_{step:07d}.png"
        with reported_write_errors(path, "the last checkpoint is intact"):
            return save_image(to_pil(grid), path)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.log is not None:
            self.log.close()
        self.board.close()


def log_up_to(path: Path, step: int) -> None:
    """Drop the log's lines after ``step``: those of a run that went on past its last checkpoint, which the
    resumed run trains (and logs) again, and a line cut short by a killed process."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and logged_step(line) <= step]
    if len(kept) < len(lines):
        atomic_write(path, lambda file: file.write("".join(kept).encode()))


def logged_step(line: str) -> float:
    """The step of a log line; infinity for a line that is not JSON (dropped with what follows the checkpoint)."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return math.inf
