"""Test clips made from the bundled photos (or any photo), no download: a camera panning, zooming and turning,
held by hand (slow drift and zoom with tremor), and an object moving over a still scene, with sensor noise. The
motions are not multiples of the network's stride (4 pixels), which would hide flicker: a fully convolutional
network is nearly unchanged by such shifts."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..images import load_image

CLIP_KINDS = ("pan", "zoom", "object", "handheld")


def camera(photo: np.ndarray, size: tuple[int, int], t: int, kind: str) -> np.ndarray:
    """Frame ``t`` of a camera moving over ``photo``: (H, W, 3) uint8 of ``size`` (width, height)."""
    import cv2

    width, height = size
    centre = (photo.shape[1] / 2, photo.shape[0] / 2)
    if kind == "pan":  # 2.6 px right and 1.3 px down a frame, at the frame's scale
        scale = max(width / photo.shape[1], height / photo.shape[0]) * 1.6
        matrix = cv2.getRotationMatrix2D(centre, 0, scale)
        matrix[:, 2] += (width / 2 - centre[0] - 2.6 * t + 40, height / 2 - centre[1] - 1.3 * t + 20)
    elif kind == "handheld":  # a slow drift (0.7 px a frame) and zoom (0.2%) with a hand's tremor: sums of slow sines
        scale = max(width / photo.shape[1], height / photo.shape[0]) * 1.3 * (1 + 0.002 * t)
        shake_x = 1.8 * np.sin(0.9 * t) + 1.1 * np.sin(2.3 * t + 1.0)
        shake_y = 1.4 * np.sin(1.3 * t + 2.0) + 0.9 * np.sin(2.9 * t)
        matrix = cv2.getRotationMatrix2D(centre, 0.25 * np.sin(0.7 * t), scale)
        matrix[:, 2] += (width / 2 - centre[0] - 0.7 * t + shake_x, height / 2 - centre[1] + 0.3 * t + shake_y)
    else:  # zoom in by 1.2% and turn by 0.3 degrees a frame
        scale = max(width / photo.shape[1], height / photo.shape[0]) * 1.2 * (1 + 0.012 * t)
        matrix = cv2.getRotationMatrix2D(centre, 0.3 * t, scale)
        matrix[:, 2] += (width / 2 - centre[0], height / 2 - centre[1])
    return cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def moving_object(photo: np.ndarray, size: tuple[int, int], t: int) -> np.ndarray:
    """A still scene with a disc of another photo's texture crossing it (2.7 px a frame), shading included."""
    import cv2

    width, height = size
    background = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    rows, cols = np.mgrid[0:height, 0:width]
    cx, cy, radius = width * 0.2 + 2.7 * t, height * 0.5 + 0.9 * t, min(width, height) * 0.22
    inside = (cols - cx) ** 2 + (rows - cy) ** 2 <= radius ** 2
    texture = np.roll(np.asarray(load_image("builtin:coffee").resize(size)), (int(0.9 * t), int(2.7 * t)), (0, 1))
    frame = background.copy()
    frame[inside] = texture[inside]
    return frame


def make_frames(kind: str, count: int, size: tuple[int, int] = (320, 180), photo: str = "astronaut",
                noise: float = 2.0, seed: int = 0) -> list[np.ndarray]:
    """``count`` frames of a clip (see CLIP_KINDS), (H, W, 3) uint8, with Gaussian sensor noise of ``noise``;
    ``photo``: a bundled photo's name or an image file."""
    pixels = np.asarray(load_image(photo if Path(photo).suffix else f"builtin:{photo}"))
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(count):
        frame = moving_object(pixels, size, t) if kind == "object" else camera(pixels, size, t, kind)
        noisy = frame.astype(np.float32) + rng.normal(0, noise, frame.shape)
        frames.append(np.clip(noisy, 0, 255).round().astype(np.uint8))
    return frames


def write_clip(path: str | Path, frames: list[np.ndarray], rate: int = 24, audio_seconds: float = 0.0,
               codec: str = "libx264") -> Path:
    """Frames as a video file (H.264 in the file's container); ``audio_seconds`` of a 440 Hz tone as AAC."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.height, video.width = frames[0].shape[:2]
        odd = video.width % 2 or video.height % 2
        video.pix_fmt = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sides
        audio = container.add_stream("aac", rate=16000) if audio_seconds else None  # streams come before packets
        for pixels in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(video.encode(None))
        if audio is not None:
            write_tone(container, audio, audio_seconds)
    return path


def write_tone(container, audio, seconds: float) -> None:
    """A 440 Hz tone into the audio stream ``audio``."""
    import av

    rate = audio.rate
    samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate).astype(np.float32)
    for start in range(0, len(samples), 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(audio.encode(frame))
    container.mux(audio.encode(None))
