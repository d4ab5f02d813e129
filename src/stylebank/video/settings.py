"""How video frames are tied together (see coherence.py): settings the command line reads without PyTorch."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StyleBankError

COHERENCE_MODES = ("output", "features", "none")
# Frames stylized side by side, each on its share of the cores, where the backend can (ONNX Runtime): on 2 cores,
# 1.2-1.3x the frames per second of one frame at a time on both (benchmarks/video_speed.py).
FRAMES_AT_ONCE = 2


@dataclass(frozen=True)
class Coherence:
    """How frames are tied together. ``carry``: the share of the carried-over result kept where the flow is
    trusted (1 freezes the texture there, 0 is frame by frame); ``match``: the largest mean colour difference
    (0-1) between a frame and its warped predecessor that still counts as the same content; ``scene_cut``: below
    this share of pixels matching so, a frame starts afresh; ``steady_input``: the share of the previous (steadied)
    input frame, carried along the flow, blended into the frame the network sees where the flow is trusted: the
    sensor noise the network would paint as texture that boils is averaged out over frames (0: off);
    ``flow_scale``: the optical flow is computed on the frames shrunk by this factor (faster), then resized."""

    mode: str = "output"
    carry: float = 0.6  # benchmarks/video.py: 0.8 steadies more but costs waves 12% of its style; 0.6 keeps 10%
    steady_input: float = 0.6  # benchmarks/video.py: flat-region flicker 1.5-1.7x lower, style kept better
    match: float = 0.06
    scene_cut: float = 0.5
    flow_preset: str = "fast"
    flow_scale: float = 0.5  # the flow on frames shrunk to half: benchmarks/video_speed.py, benchmarks/video.py

    def __post_init__(self) -> None:
        if self.mode not in COHERENCE_MODES:
            raise StyleBankError(f"coherence must be one of {', '.join(COHERENCE_MODES)}, got {self.mode!r}")
        for name in ("carry", "steady_input"):
            if not 0 <= getattr(self, name) <= 1:
                raise StyleBankError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0 < self.flow_scale <= 1:
            raise StyleBankError(f"flow_scale must be above 0 and at most 1, got {self.flow_scale}")
