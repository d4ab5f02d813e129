"""Stylizing videos: frame by frame through any backend (the Stylizer contract), tied together by coherence.

- ``VideoStylizer``: one frame in, one stylized frame out, keeping what coherence carries between them; or
  ``stream(frames)``, which stylizes as many frames at once as the backend takes (``Stylizer.calls_at_once``)
  while the next ones' flow is computed;
- ``stylize_frames``: ``stream`` over any frames (arrays, PIL images, tensors);
- ``stylize_video``: a file or folder in, a file or folder out, streaming, audio copied, no partial output, the
  time per stage reported.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..fusion import StyleLike, kmeans_labels, parse_regions
from ..tensors import to_tensor, to_uint8_array
from ..backends.stylizer import MaskLike, StylizeOptions, Stylizer, shrink_to_fit
from .coherence import CoherentFrames
from .settings import Coherence
from .timing import StageClock
from .reader import Frame, VideoReader
from .writer import VideoWriter

FrameLike = np.ndarray | Image.Image | torch.Tensor
STAGES = ("decode", "flow", "steady input", "stylize", "blend", "encode")  # a frame's way through, in order


class VideoStylizer:
    """Stylize a video's frames in order: ``video(frame)`` for each, as (H, W, 3) uint8 arrays, PIL images or
    (3, H, W) float tensors; returns (H, W, 3) uint8. Settings as for ``Stylizer.stylize``; ``mask`` may be a
    label image or ``kmeans:K`` (segmented once, on the first frame, so that regions do not flicker);
    ``max_size`` shrinks every frame; ``options``, settings made already (a front end's), stand for style …
    precision."""

    def __init__(self, stylizer: Stylizer, style: StyleLike | list[StyleLike] = 0, mask: MaskLike | None = None,
                 strength: float = 1.0, preserve_color: bool = False, precision: str = "auto",
                 max_size: int | None = None, coherence: Coherence = Coherence(),
                 options: StylizeOptions | None = None):
        options = options or StylizeOptions(style, mask, strength, preserve_color, precision)
        self.options = replace(options, tile=0).resolved(stylizer.styles)  # a bad spec fails before any frame
        self.stylizer, self.coherence, self.max_size = stylizer, coherence, max_size
        self.frames: CoherentFrames | None = None
        self.frames_at_once = 1  # decided at the first frame (Stylizer.calls_at_once)
        self.clock = StageClock()

    def __call__(self, frame: FrameLike) -> np.ndarray:
        tensor = self.tensor(frame)
        return to_uint8_array(self.coherent_for(tensor)(tensor))

    def stream(self, frames: Iterable[FrameLike]) -> Iterator[np.ndarray]:
        """Each frame stylized, in order. Where the backend takes several calls at once (``frames_at_once``), frames
        are rendered that many at a time on worker threads while this thread reads and prepares the next ones and
        finishes the earlier ones; otherwise each frame is done here, in turn."""
        pending: deque = deque()  # (prepared frame, its rendering), oldest first
        with ThreadPoolExecutor(max(1, self.stylizer.concurrent_calls), thread_name_prefix="stylebank-frame") as pool:
            for frame in frames:
                tensor = self.tensor(frame)
                coherent = self.coherent_for(tensor)
                if self.frames_at_once == 1:
                    yield to_uint8_array(coherent(tensor))
                    continue
                with one_torch_thread():
                    prepared = coherent.prepare(tensor)
                pending.append((prepared, pool.submit(coherent.render, prepared)))
                if len(pending) >= self.frames_at_once:
                    yield self.finished(*pending.popleft())
            while pending:
                yield self.finished(*pending.popleft())

    def tensor(self, frame: FrameLike) -> torch.Tensor:
        """A frame as (3, H, W) floats, shrunk to max_size."""
        tensor = frame.float() if isinstance(frame, torch.Tensor) else to_tensor(frame)
        return shrink_to_fit(tensor.unsqueeze(0), self.max_size)[0]

    def coherent_for(self, first: torch.Tensor) -> CoherentFrames:
        """The coherence state, made at the first frame (k-means regions are found on it), and how many frames of
        this size the backend takes at once."""
        if self.frames is None:
            self.frames = CoherentFrames(self.stylizer, self.fixed_regions(first), self.coherence, self.clock)
            self.frames_at_once = self.stylizer.calls_at_once(self.frames.options, tuple(first.shape[-2:]),
                                                              carry=self.coherence.mode == "features")
        return self.frames

    def finished(self, prepared, rendering) -> np.ndarray:
        rendered = rendering.result()
        with one_torch_thread():
            return to_uint8_array(self.frames.finish(prepared, rendered))

    def fixed_regions(self, first: torch.Tensor) -> StylizeOptions:
        """K-means regions found on the first frame, as a label image for all."""
        if not isinstance(self.options.mask, str):
            return self.options
        labels = kmeans_labels(first, parse_regions(self.options.mask)).astype(np.uint8)
        return replace(self.options, mask=labels)

    @property
    def scene_cuts(self) -> int:
        return self.frames.scene_cuts if self.frames else 0


_one_thread_lock = threading.Lock()
_one_thread_users = 0
_threads_before = 1


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """PyTorch on one thread for the block: while frames are stylized side by side (by a backend computing on
    threads of its own, ONNX Runtime), the flow's warps and the blends are small ops that, spread over threads,
    fight the frames for the cores (on 2 cores about 3.5 frames/s instead of 4.3, in trials with video_speed.py).
    Held only around this thread's own work, never across a yield; nested or concurrent blocks restore the
    setting once, at the last one's end."""
    global _one_thread_users, _threads_before
    with _one_thread_lock:
        if _one_thread_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _one_thread_users += 1
    try:
        yield
    finally:
        with _one_thread_lock:
            _one_thread_users -= 1
            if _one_thread_users == 0:
                torch.set_num_threads(_threads_before)


def stylize_frames(stylizer: Stylizer, frames: Iterable[FrameLike], **settings) -> Iterator[np.ndarray]:
    """Each frame stylized, in order, as (H, W, 3) uint8 (settings: see VideoStylizer)."""
    yield from VideoStylizer(stylizer, **settings).stream(frames)


def stylize_video(stylizer: Stylizer, source: str | Path, target: str | Path, *, start: float = 0.0,
                  duration: float | None = None, max_pixels: int | None = None,
                  progress: Callable[[int | None], Callable[[], None]] | None = None, **settings) -> dict:
    """Stylize the video (or folder of numbered images) ``source`` into ``target`` (.mp4/.mov/.mkv, or a folder of
    PNG frames): same frame times, the audio copied. ``progress(total_frames)`` gives a function called after
    each frame. Returns what was done: frames, the first frame's size and the output's, rate, seconds, scene
    cuts, how many frames were stylized at once and the milliseconds per frame in each stage."""
    started = time.perf_counter()
    video = VideoStylizer(stylizer, **settings)
    with VideoReader(source, max_pixels, start, duration) as reader:
        writer = VideoWriter(target, reader.source.rate, reader.source.audio)
        step = progress(reader.source.frames) if progress else None
        frames = FrameSource(reader, writer, video.clock)
        try:
            for output in video.stream(frames):
                with video.clock("encode"):
                    writer.write(output, frames.times.popleft())
                if step:
                    step()
            with video.clock("encode"):  # x264 holds frames back: closing encodes them
                written = writer.close()
        except BaseException:  # an error or Ctrl-C: nothing half-written is left
            writer.abandon()
            raise
    seconds = time.perf_counter() - started
    return {"input": str(source), "output": str(written), "frames": writer.count, "input_size": frames.first_size,
            "size": list(writer.size),
            "rate": float(reader.source.rate), "audio": writer.audio is not None,
            "scene_cuts": video.scene_cuts, "seconds": round(seconds, 2),
            "frames_per_second": round(writer.count / seconds, 2),
            "frames_at_once": video.frames_at_once,
            "milliseconds_per_frame": video.clock.per_frame(writer.count, STAGES)}


class FrameSource:
    """A reader's frames as pixels, for VideoStylizer.stream: each frame's time kept, in order, for the writer
    (``times``), the audio copied to the writer as it comes, the decoding timed."""

    def __init__(self, reader: VideoReader, writer: VideoWriter, clock: StageClock):
        self.reader, self.writer, self.clock = reader, writer, clock
        self.times: deque = deque()
        self.first_size: list[int] | None = None  # width, height

    def __iter__(self) -> Iterator[np.ndarray]:
        items = iter(self.reader)
        while True:
            with self.clock("decode"):
                item = next(items, None)
            if item is None:
                return
            if isinstance(item, Frame):
                self.first_size = self.first_size or [item.pixels.shape[1], item.pixels.shape[0]]
                self.times.append(item.time)
                yield item.pixels
            else:
                self.writer.copy_audio(item)
