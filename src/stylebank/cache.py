"""Where stylebank keeps what it makes once and reuses: converted loss-network weights, ONNX exports."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$STYLEBANK_CACHE, else $XDG_CACHE_HOME/stylebank, else ~/.cache/stylebank."""
    if os.environ.get("STYLEBANK_CACHE"):
        return Path(os.environ["STYLEBANK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylebank"
