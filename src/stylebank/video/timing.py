"""Where a video's time goes: seconds per stage of the work (decode, flow, stylize, …), summed over its frames."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StageClock:
    """``with clock("flow"): ...`` adds the block's wall-clock seconds to the stage's total; stages timed on
    several threads at once (frames stylized side by side) each add their own time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.lock = threading.Lock()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self.lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed

    def per_frame(self, frames: int, order: tuple[str, ...] = ()) -> dict[str, float]:
        """Milliseconds per frame in each stage: the stages named in ``order`` first, in that order."""
        stages = sorted(self.seconds, key=lambda stage: order.index(stage) if stage in order else len(order))
        return {stage: round(1000 * self.seconds[stage] / max(frames, 1), 1) for stage in stages}
