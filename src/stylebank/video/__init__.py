"""Stylized video without flicker (``stylebank video``): read with PyAV, stylize each frame through any backend,
carry the previous result along the optical flow (OpenCV's DIS), write H.264 with the audio copied. Needs the
``video`` extra (PyAV, opencv-python-headless)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {"Coherence": ".settings", "VideoStylizer": ".pipeline", "stylize_frames": ".pipeline",
            "stylize_video": ".pipeline"}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .pipeline import VideoStylizer, stylize_frames, stylize_video
    from .settings import Coherence


def __getattr__(name: str):
    """Imported when first used: the command line reads the settings without loading PyTorch."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stylebank.video' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
