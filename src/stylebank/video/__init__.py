"""Stylized video without flicker (``stylebank video``): read with PyAV, stylize each frame through any backend,
carry the previous result along the optical flow (OpenCV's DIS), write H.264 with the audio copied. Needs the
``video`` extra (PyAV, opencv-python-headless)."""

from .coherence import Coherence
from .pipeline import VideoStylizer, stylize_frames, stylize_video

__all__ = ["Coherence", "VideoStylizer", "stylize_frames", "stylize_video"]
