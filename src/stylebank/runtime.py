"""Choosing the device."""

from __future__ import annotations

import torch

from .errors import StyleBankError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; asking for one that isn't there is an error."""
    if isinstance(name, torch.device):
        return name
    name = name or "auto"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind not in DEVICES[1:]:
        raise StyleBankError(f"unknown device {name!r}: use one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise StyleBankError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise StyleBankError("--device mps: Apple's MPS is not available here; use --device cpu or auto")
    return torch.device(name)
