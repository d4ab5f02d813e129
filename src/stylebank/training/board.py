"""TensorBoard logging of a training run (``train --tensorboard DIR``), beside the JSONL log that is always written:
every loss term of both branches, the gradient ratio, the learning rate, skipped steps and the preview images."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import StyleBankError


class Board:
    """A TensorBoard event writer for one run; ``None`` folder: writes nothing."""

    def __init__(self, folder: str | Path | None):
        self.writer = None
        if folder is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise StyleBankError("--tensorboard needs the tensorboard package: "
                                 "pip install 'stylebank[tensorboard]'") from None
        self.writer = SummaryWriter(str(folder))

    def scalars(self, step: int, branch: str, values: dict[str, float]) -> None:
        """One log line's numbers: a branch's term means under ``branch/``, the rest (lr, skipped) as they are."""
        if self.writer:
            for name, value in values.items():
                self.writer.add_scalar(name if name in ("lr", "skipped") else f"{branch}/{name}", value, step)

    def image(self, step: int, grid: torch.Tensor) -> None:
        """The preview grid (3xHxW in [0, 1])."""
        if self.writer:
            self.writer.add_image("preview", grid, step)

    def close(self) -> None:
        if self.writer:
            self.writer.close()
