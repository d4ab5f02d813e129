"""Writing a stylized video: H.264 in MP4, MOV or Matroska (PyAV), at the input's frame times, with the input's
audio packets copied through untouched; or numbered PNG frames in a folder. Written under a temporary name and
renamed when complete, so that an interruption or an error leaves no partial output."""

from __future__ import annotations

import os
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import StyleBankError

CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
TIME_BASE = Fraction(1, 90_000)  # MPEG's clock: exact for every common frame rate


def is_folder_output(target: Path) -> bool:
    return target.is_dir() or not target.suffix


def partial_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial")


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 in 4:2:0 needs even sides: an odd one loses its last row or column."""
    return width - width % 2, height - height % 2


class VideoWriter:
    """Frames in, one at a time (``write``); ``close()`` finishes and renames, ``abandon()`` removes the partial."""

    def __init__(self, target: str | Path, rate: Fraction, audio=None, crf: int = 18, preset: str = "veryfast"):
        self.target = Path(target)
        self.partial = partial_name(self.target)
        # x264's veryfast: a third of medium's CPU time per frame (7 vs 19 ms at 640x360 here), time the frames
        # being stylized side by side need; at the same crf the picture's quality is kept, the file a little larger
        self.rate, self.audio_template, self.crf, self.preset = rate, audio, crf, preset
        self.container = self.stream = self.audio = None
        self.count = 0
        self.size: tuple[int, int] | None = None  # as written
        self.waiting_audio: list = []
        self.frames_folder = is_folder_output(self.target)  # decided once: the target is checked on disk
        if self.frames_folder:
            self.partial.mkdir(parents=True, exist_ok=True)
        elif self.target.suffix.lower() not in CONTAINERS:
            raise StyleBankError(f"{target}: write .mp4, .mov or .mkv (H.264), or a folder for PNG frames")

    def open(self, width: int, height: int) -> None:
        import av

        self.container = av.open(str(self.partial), "w", format=CONTAINERS[self.target.suffix.lower()])
        self.stream = self.container.add_stream("libx264", rate=self.rate)
        self.stream.width, self.stream.height = even_size(width, height)
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = TIME_BASE
        self.stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.audio_template is not None:
            self.audio = self.container.add_stream_from_template(self.audio_template)
            for packet in self.waiting_audio:
                self.copy_audio(packet)
            self.waiting_audio = []

    def write(self, pixels: np.ndarray, time: float) -> None:
        """One frame, (H, W, 3) uint8, shown at ``time`` seconds."""
        import av

        height, width = pixels.shape[:2]
        if self.size is None:
            self.size = even_size(width, height) if self.is_video() else (width, height)
            if self.is_video():
                self.open(width, height)
                if (width, height) != self.size:
                    print(f"stylebank: note: the frames are {width}x{height}; H.264 needs even sides, so the "
                          f"video is {self.stream.width}x{self.stream.height}", file=sys.stderr)
        if not self.is_video():
            Image.fromarray(pixels).save(self.partial / f"frame_{self.count + 1:06d}.png")
        else:
            frame = av.VideoFrame.from_ndarray(pixels[:self.stream.height, :self.stream.width], format="rgb24")
            frame.pts = round(time / TIME_BASE)
            frame.time_base = TIME_BASE
            self.mux(self.stream.encode(frame))
        self.count += 1

    def copy_audio(self, packet) -> None:
        """An audio packet of the input, as it is (its times already moved to the clip's start). Packets that come
        before the first frame wait for it: the file is opened once the frame size is known."""
        if self.audio_template is None or not self.is_video():
            return
        if self.container is None:
            self.waiting_audio.append(packet)
            return
        packet.stream = self.audio
        self.container.mux(packet)

    def mux(self, packets) -> None:
        for packet in packets:
            self.container.mux(packet)

    def is_video(self) -> bool:
        return not self.frames_folder

    def close(self) -> Path:
        """Finish the file and give it its name."""
        if self.count == 0:
            self.abandon()
            raise StyleBankError("no frames to write (an empty clip, or --start past its end)")
        if self.container is not None:
            self.mux(self.stream.encode(None))
            self.container.close()
        if self.target.is_dir():
            shutil.rmtree(self.target)  # --overwrite of a folder of frames
        os.replace(self.partial, self.target)
        return self.target

    def abandon(self) -> None:
        """Remove what was written (an error, Ctrl-C): no partial output is left."""
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # closing a half-written container can fail too; the file goes anyway
                pass
        if self.partial.is_dir():
            shutil.rmtree(self.partial, ignore_errors=True)
        else:
            self.partial.unlink(missing_ok=True)
