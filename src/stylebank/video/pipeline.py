"""Stylizing videos: frame by frame through any backend (the Stylizer contract), tied together by coherence.

- ``VideoStylizer``: one frame in, one stylized frame out, keeping what coherence carries between them;
- ``stylize_frames``: the same as a generator over any frames (arrays, PIL images, tensors);
- ``stylize_video``: a file or folder in, a file or folder out, streaming, audio copied, no partial output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
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
from .reader import Frame, VideoReader
from .writer import VideoWriter

FrameLike = np.ndarray | Image.Image | torch.Tensor


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

    def __call__(self, frame: FrameLike) -> np.ndarray:
        tensor = frame.float() if isinstance(frame, torch.Tensor) else to_tensor(frame)
        tensor = shrink_to_fit(tensor.unsqueeze(0), self.max_size)[0]
        if self.frames is None:
            self.frames = CoherentFrames(self.stylizer, self.fixed_regions(tensor), self.coherence)
        return to_uint8_array(self.frames(tensor))

    def fixed_regions(self, first: torch.Tensor) -> StylizeOptions:
        """K-means regions found on the first frame, as a label image for all."""
        if not isinstance(self.options.mask, str):
            return self.options
        labels = kmeans_labels(first, parse_regions(self.options.mask)).astype(np.uint8)
        return replace(self.options, mask=labels)

    @property
    def scene_cuts(self) -> int:
        return self.frames.scene_cuts if self.frames else 0


def stylize_frames(stylizer: Stylizer, frames: Iterable[FrameLike], **settings) -> Iterator[np.ndarray]:
    """Each frame stylized, in order, as (H, W, 3) uint8 (settings: see VideoStylizer)."""
    video = VideoStylizer(stylizer, **settings)
    for frame in frames:
        yield video(frame)


def stylize_video(stylizer: Stylizer, source: str | Path, target: str | Path, *, start: float = 0.0,
                  duration: float | None = None, max_pixels: int | None = None,
                  progress: Callable[[int | None], Callable[[], None]] | None = None, **settings) -> dict:
    """Stylize the video (or folder of numbered images) ``source`` into ``target`` (.mp4/.mov/.mkv, or a folder of
    PNG frames): same frame times, the audio copied. ``progress(total_frames)`` gives a function called after
    each frame. Returns what was done: frames, the first frame's size and the output's, rate, seconds, scene
    cuts."""
    started = time.perf_counter()
    video = VideoStylizer(stylizer, **settings)
    with VideoReader(source, max_pixels, start, duration) as reader:
        writer = VideoWriter(target, reader.source.rate, reader.source.audio)
        step = progress(reader.source.frames) if progress else None
        input_size = None
        try:
            for item in reader:
                if isinstance(item, Frame):
                    input_size = input_size or [item.pixels.shape[1], item.pixels.shape[0]]
                    writer.write(video(item.pixels), item.time)
                    if step:
                        step()
                else:
                    writer.copy_audio(item)
            written = writer.close()
        except BaseException:  # an error or Ctrl-C: nothing half-written is left
            writer.abandon()
            raise
    seconds = time.perf_counter() - started
    return {"input": str(source), "output": str(written), "frames": writer.count, "input_size": input_size,
            "size": list(writer.size),
            "rate": float(reader.source.rate), "audio": writer.audio is not None,
            "scene_cuts": video.scene_cuts, "seconds": round(seconds, 2),
            "frames_per_second": round(writer.count / seconds, 2)}
