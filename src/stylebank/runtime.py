"""Choosing the device and the precision. The names are read without PyTorch (the command line's choices); the
functions import it when called."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .errors import StyleBankError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
TRAINING_PRECISIONS = (*PRECISIONS, "fp16")
CPUINFO = "/proc/cpuinfo"  # Linux's description of the CPU, its feature flags included
M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter (malloc.h)


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """'auto' picks CUDA, then Apple's MPS, then the CPU; asking for one that isn't there is an error."""
    import torch

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


def has_fast_bf16(device: torch.device) -> bool:
    """Whether bf16 runs natively here: CUDA GPUs that support it, CPUs with AVX-512 BF16 or AMX units."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)  # emulated bf16 (pre-Ampere) is slower
    if device.type == "cpu":
        probes = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
        return any(probe() for probe in probes if probe is not None)
    return False


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles for bf16 (Intel Sapphire Rapids and later), read from Linux's
    /proc/cpuinfo without importing PyTorch; False elsewhere. There PyTorch's bf16 network outruns ONNX Runtime's
    fp32 one several times (see backends.TORCH_FROM_IMAGES)."""
    try:
        with open(CPUINFO, encoding="ascii", errors="replace") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        return False
    return "amx_bf16" in flags.split()


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed blocks of up to 256 MiB in its heap for reuse instead of unmapping them.

    By default it maps every block above 32 MB afresh and unmaps it when freed; PyTorch has no caching allocator
    on the CPU, so each layer's output above that size (a 1024x1024 photo's 32-channel maps) costs a page fault
    per 4 KiB on every call. Larger blocks (a 4096x4096 photo's) are still mapped and returned: with a 1 GiB
    threshold the heap's holes raised the peak of a tiled 4096x4096 photo above the 3 GB it must stay under
    (benchmarks/speed.py measures it). The process keeps its heap until it exits, which suits a command; a
    library leaves this to its caller. Elsewhere than glibc: nothing."""
    if sys.platform != "linux":
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 256 << 20)  # the C library the interpreter runs on
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return


def autocast(device: torch.device, dtype: torch.dtype) -> torch.autocast:
    """bf16 or fp16 autocast on ``device`` when ``dtype`` is one of them; a no-op context for fp32."""
    import torch

    low = dtype in (torch.bfloat16, torch.float16)
    return torch.autocast(device.type, dtype=dtype if low else torch.bfloat16, enabled=low)


def torch_dtype(precision: str) -> torch.dtype:
    """The torch type of a precision name: fp32, bf16 or fp16."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def training_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The autocast type of a training run: ``auto`` picks what ``device`` does natively (bf16 on GPUs and CPUs
    that have it; fp16, with a gradient scaler, on GPUs without it; fp32 otherwise)."""
    import torch

    if precision != "auto":
        return torch_dtype(precision)
    if has_fast_bf16(device):
        return torch.bfloat16
    return torch.float16 if device.type == "cuda" else torch.float32
