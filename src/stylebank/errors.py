"""The project's own error types: the command line prints these as one line, without a traceback."""

from __future__ import annotations

import signal
from pathlib import Path


class StyleBankError(Exception):
    """A problem the user can fix: bad input, a missing file, an unreachable weight source."""


class TrainingInterrupted(StyleBankError):
    """Training stopped by Ctrl-C or SIGTERM, its checkpoint saved (raised by stylebank.training.loop)."""

    def __init__(self, step: int, checkpoint: Path, signum: int | None = None):
        by = f" by {signal.Signals(signum).name}" if signum else ""
        super().__init__(f"interrupted{by} at iteration {step}; checkpoint saved to {checkpoint}; "
                         "run the same command with --resume to continue")
        self.step = step
        self.signum = signum or signal.SIGINT
