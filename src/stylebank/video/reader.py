"""Reading a video: its frames (upright, as RGB arrays with their times) and its audio packets, in one streaming
pass, from what FFmpeg reads (PyAV) or from a folder of numbered images. Every way a file can fail becomes a
StyleBankError that names it and the cause."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import StyleBankError
from ..images import check_pixel_limit, images_in_folder, load_image

FOLDER_RATE = Fraction(25)  # frames per second of a folder of images


@dataclass
class Frame:
    pixels: np.ndarray  # (H, W, 3) uint8, upright
    time: float  # seconds from the clip's start (after --start)


@dataclass
class VideoSource:
    """What a video is, read from its header before any frame is decoded."""

    rate: Fraction  # frames per second (the average, for a variable rate)
    frames: int | None  # how many frames will be read, where known (for the progress bar)
    audio: object | None = None  # the audio stream whose packets are copied (PyAV), or None
    video: object | None = field(default=None, repr=False)  # the PyAV video stream (None for a folder)


def natural_key(path: str) -> list:
    """frame2 before frame10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", Path(path).name)]


class VideoReader:
    """Frames and audio packets of ``path`` between ``start`` and ``start + duration`` seconds, one at a time.

    Use as a context manager; iterate to get ``Frame``s and, where there is audio, PyAV packets to copy (their
    times already shifted to the clip's start)."""

    def __init__(self, path: str | Path, max_pixels: int | None = None, start: float = 0.0,
                 duration: float | None = None):
        self.path = Path(path)
        self.start, self.end = start, None if duration is None else start + duration
        self.max_pixels = max_pixels
        self.container = None
        if not self.path.exists():
            raise StyleBankError(f"{path}: no such file or folder")
        self.source = self.open_folder() if self.path.is_dir() else self.open_file()

    def open_folder(self) -> VideoSource:
        self.files = sorted(images_in_folder(self.path), key=natural_key)
        first = int(round(self.start * FOLDER_RATE))
        last = len(self.files) if self.end is None else int(round(self.end * FOLDER_RATE))
        self.files = self.files[first:last]
        if not self.files:
            raise StyleBankError(f"{self.path}: no images in this folder (between --start and --duration)")
        return VideoSource(FOLDER_RATE, len(self.files))  # each image's size is checked as it is read

    def open_file(self) -> VideoSource:
        import av

        if self.path.stat().st_size == 0:
            raise StyleBankError(f"{self.path}: empty file")
        try:
            self.container = av.open(str(self.path))
        except av.FFmpegError as error:
            raise StyleBankError(f"{self.path}: not a video, or a damaged or truncated one (FFmpeg: "
                                 f"{error.strerror or error})") from None
        if not self.container.streams.video:
            streams = describe_streams(self.container)
            self.container.close()
            raise StyleBankError(f"{self.path}: no video stream (only {streams})")
        video = self.container.streams.video[0]
        video.thread_type = "AUTO"
        if not video.width or not video.height:
            raise StyleBankError(f"{self.path}: its video stream has no frame size (a damaged header)")
        check_pixel_limit(self.path, video.width, video.height, self.max_pixels, what="frames are")
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        frames = self.expected_frames(video, rate)
        audio = self.container.streams.audio[0] if self.container.streams.audio else None
        return VideoSource(Fraction(rate), frames, audio, video)

    def length(self) -> float | None:
        """Seconds, from the video stream's header or else the container's (Matroska gives only the latter)."""
        import av

        video = self.container.streams.video[0]
        if video.duration is not None and video.time_base is not None:
            return float(video.duration * video.time_base)
        return self.container.duration / av.time_base if self.container.duration else None

    def expected_frames(self, video, rate: Fraction) -> int | None:
        if video.frames and self.start == 0 and self.end is None:
            return video.frames
        seconds = self.length()
        if seconds is None:
            return None
        return max(0, round((min(seconds, self.end or seconds) - self.start) * rate))

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exception) -> None:
        if self.container is not None:
            self.container.close()

    def __iter__(self) -> Iterator[Frame | object]:
        if self.container is None:
            yield from self.folder_frames()
        else:
            yield from self.file_items()

    def folder_frames(self) -> Iterator[Frame]:
        for index, file in enumerate(self.files):
            pixels = np.asarray(load_image(file, self.max_pixels))
            yield Frame(pixels, index / FOLDER_RATE)

    def file_items(self) -> Iterator[Frame | object]:
        import av

        video, audio = self.source.video, self.source.audio
        if self.start:
            self.container.seek(int(self.start / video.time_base), stream=video)
        streams = [video] + ([audio] if audio is not None else [])
        last = None
        try:
            for packet in self.container.demux(*streams):
                if packet.stream is video:
                    for frame in packet.decode():
                        if frame.time is None or frame.time < self.start:
                            continue
                        if self.end is not None and frame.time >= self.end:
                            return
                        last = frame.time
                        yield Frame(upright(frame), frame.time - self.start)
                elif packet.dts is not None and self.in_clip(packet):
                    yield packet
        except av.FFmpegError as error:
            raise StyleBankError(f"{self.path}: truncated or corrupt video ({error})") from None
        self.check_complete(last)

    def check_complete(self, last: float | None) -> None:
        """A file whose frames stop well before the length its header gives was cut short: say so, rather than
        write a shorter video as if nothing happened."""
        length = self.length()
        if length is None or last is None or self.start >= length:
            return
        missing = length - (last + 1 / self.source.rate)
        if missing > max(2 / self.source.rate, 0.05 * length):
            raise StyleBankError(f"{self.path}: truncated: its frames stop at {last:.2f} s of the {length:.2f} s "
                                 "its header gives")

    def in_clip(self, packet) -> bool:
        """Whether an audio packet falls in the clip; if so its times are moved to the clip's start."""
        time = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
        # from the start, everything before the end (AAC's priming packet is timed before 0)
        if (self.start and time < self.start) or (self.end is not None and time >= self.end):
            return False
        if self.start:
            shift = int(self.start / packet.time_base)
            packet.pts -= shift
            packet.dts -= shift
        return True


def upright(frame) -> np.ndarray:
    """A decoded PyAV frame as (H, W, 3) uint8, turned as its display matrix says (phones record sideways)."""
    pixels = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # counter-clockwise degrees
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def describe_streams(container) -> str:
    kinds = [stream.type for stream in container.streams]
    return ", ".join(f"{kinds.count(kind)} {kind}" for kind in dict.fromkeys(kinds)) or "no streams"
