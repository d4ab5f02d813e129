"""Which backend stylizes: ``load_stylizer(model, backend, device)``, what the command line, the studio and video
open a model with.

``backend="auto"`` (the default) stylizes on the CPU with ONNX Runtime, numpy and PIL alone, so a command that
stylizes one photo does not pay for importing PyTorch (about a second). The ONNX file is found beside the model
(``model.onnx`` next to ``model.safetensors``; the bundled model ships one) or in the cache, each checked against
the model's weights; a model without one is exported into the cache once (this needs PyTorch and the ``onnx``
extra). What ONNX Runtime cannot do (tiles, bf16, carrying features between video frames) goes to the PyTorch
model, loaded when first needed and said once; so does everything when a GPU may be present, when onnxruntime is
not installed, or when the model cannot be exported, and so do many images (a folder, a video, a server) on a CPU
with AMX, where PyTorch's bf16 network is several times faster than ONNX Runtime's fp32 one.
"""

from __future__ import annotations

import importlib.util
import platform
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import StyleBankError
from ..formats import MODEL_FORMAT, STYLE_IMAGE_PREFIX, default_model_path, read_info
from .onnx_runtime import GRAPH_VERSION, OnnxModel, cache_path_for, model_file_key
from ..runtime import cpu_has_amx
from .stylizer import Carry, StylizeOptions, Stylizer

if TYPE_CHECKING:
    import torch

BACKENDS = ("auto", "torch", "onnxruntime")
# From this many images on, "auto" stylizes with PyTorch on a CPU with AMX: its bf16 network there is 3-4x faster
# than ONNX Runtime's fp32 one, which wins back the second or so PyTorch takes to start within a few photos
# (benchmarks/end_to_end.py: at 1024 px, even at 2 photos and 1.3x faster at 4; a single photo is faster on ONNX
# Runtime; smaller photos need more).
TORCH_FROM_IMAGES = 4


class BackendNote(UserWarning):
    """Which backend stylizes, where the user would not expect it (the command line shows it as a note)."""


def accelerator_present() -> bool:
    """Whether PyTorch may find a GPU here, judged without importing it: an NVIDIA or AMD driver's device, or
    Apple silicon (MPS)."""
    return (Path("/dev/nvidiactl").exists() or Path("/dev/kfd").exists()
            or (sys.platform == "darwin" and platform.machine() == "arm64"))


def find_export(model: Path, styles: list[str], concurrent_calls: int = 1) -> OnnxModel | None:
    """The ONNX export of ``model`` beside it or else in the cache, if one is there whose recorded weights are
    the model's (a stale or foreign file is passed over), opened for ``concurrent_calls`` (see OnnxModel)."""
    key = model_file_key(model, styles)
    beside = export_of(model.with_suffix(".onnx"), key, concurrent_calls)
    return beside if beside is not None else export_of(cache_path_for(key), key, concurrent_calls)


def export_of(path: Path, key: str, concurrent_calls: int = 1) -> OnnxModel | None:
    """The export at ``path`` if there is one, of the weights with this key, made by this graph version."""
    if not path.is_file():
        return None
    try:
        found = OnnxModel(path, concurrent_calls=concurrent_calls)
    except StyleBankError:
        return None
    return found if found.weights_key == key and found.graph_version == GRAPH_VERSION else None


class CannotExport(StyleBankError):
    """The model is sound but cannot be run on ONNX Runtime here (no onnxruntime, no onnx extra, a failed
    export): "auto" then stylizes with PyTorch."""


def exported(model: Path, styles: list[str], concurrent_calls: int = 1) -> OnnxModel:
    """find_export, or ``model`` exported into the cache now (needs PyTorch and the onnx extra). A broken model
    file raises its own StyleBankError; what stops the export here raises CannotExport."""
    found = find_export(model, styles, concurrent_calls)
    if found is not None:
        return found
    from .pytorch import load
    from .export import cached_onnx
    from .onnx_runtime import require

    try:
        require("onnxscript"), require("onnx")  # before a second of loading PyTorch, not after
    except StyleBankError as why:
        raise CannotExport(str(why)) from None
    torch_model = load(model, "cpu")  # a broken file is said once, as an error, not as a failed export
    warnings.warn(f"exporting {model.name} for ONNX Runtime once, into the cache (later runs start faster)",
                  BackendNote, stacklevel=3)
    try:
        return OnnxModel(cached_onnx(torch_model.net, torch_model.styles, torch_model.path),
                         concurrent_calls=concurrent_calls)
    except StyleBankError as why:
        raise CannotExport(str(why)) from None


class FallbackStylizer(Stylizer):
    """ONNX Runtime where it can stylize, the PyTorch model (loaded when first needed) where it cannot; the
    first time, a BackendNote says why."""

    keeps_style_images = True

    def __init__(self, fast: OnnxModel, model: Path):
        self.fast, self.path = fast, model
        self._torch: Stylizer | None = None
        self._loading = threading.Lock()  # frames stylized side by side may both need it first

    @property
    def styles(self) -> list[str]:
        return self.fast.styles

    @property
    def concurrent_calls(self) -> int:
        return self.fast.concurrent_calls

    def calls_at_once(self, options: StylizeOptions, size: tuple[int, int], carry: bool = False) -> int:
        """As ONNX Runtime takes them; 1 where the PyTorch model does the work (one call at a time, on every core)."""
        if carry or self.fast.refusal(options, size) is not None:
            return 1
        return self.fast.calls_at_once(options, size)

    def torch_model(self, why: str) -> Stylizer:
        """The PyTorch model of the same file, loaded once."""
        with self._loading:
            if self._torch is None:
                from .pytorch import load

                warnings.warn(f"{why}: stylizing with the PyTorch backend", BackendNote, stacklevel=4)
                self._torch = load(self.path, "cpu")
        return self._torch

    def render_array(self, batch: np.ndarray, options: StylizeOptions) -> np.ndarray:
        refusal = self.fast.refusal(options, batch.shape[-2:])
        if refusal is None:
            return self.fast.render_array(batch, options)
        return self.torch_model(refusal).render_array(batch, options)

    def render(self, batch: torch.Tensor, options: StylizeOptions, carry: Carry | None = None) -> torch.Tensor:
        if carry is not None:
            return self.torch_model("coherence at the feature level").render(batch, options, carry)
        return super().render(batch, options)

    def style_picture(self, index: int) -> Image.Image:
        """Style ``index``'s image as stored in the model file; for a file of an earlier version, which names it
        by a path, the PyTorch model finds it (see StyleBankModel.style_image)."""
        picture = model_style_picture(self.path, index)
        if picture is None:
            return self.torch_model("an image named by its path").style_picture(index)
        return picture

    def __repr__(self) -> str:
        return f"FallbackStylizer(onnx={self.fast.path}, model={self.path})"


def model_style_picture(model: Path, index: int) -> Image.Image | None:
    """Style ``index``'s image as stored in a model file, read with numpy; None where the file stores none."""
    from safetensors import safe_open

    with safe_open(str(model), "numpy") as handle:
        name = f"{STYLE_IMAGE_PREFIX}{index}"
        if name not in handle.keys():
            return None
        return Image.fromarray(np.ascontiguousarray(handle.get_tensor(name).transpose(1, 2, 0)))


def torch_is_faster(backend: str, device: str, images: int) -> bool:
    """Whether PyTorch does the work better here than ONNX Runtime on the CPU: on a GPU, and for many images on a
    CPU with AMX (see TORCH_FROM_IMAGES)."""
    if device not in ("auto", "cpu") or (device == "auto" and accelerator_present()):
        return True
    return backend == "auto" and images >= TORCH_FROM_IMAGES and cpu_has_amx()


def style_names(model: str | Path | None) -> list[str] | None:
    """The style names of a model file (default: the bundled model) read from its metadata, without loading or
    exporting it; None for an ONNX file or metadata without them (loading the model says what is wrong)."""
    path = Path(model) if model else default_model_path()
    if path.suffix.lower() == ".onnx":
        return None
    styles = read_info(path, MODEL_FORMAT).get("styles")
    return styles if isinstance(styles, list) and all(isinstance(name, str) for name in styles) else None


def load_stylizer(model: str | Path | None = None, backend: str = "auto", device: str = "auto",
                  images: int = 1, concurrent_calls: int = 1) -> Stylizer:
    """A model file (default: the bundled model), or an exported ``.onnx`` file, ready to stylize with
    ``backend``: "torch", "onnxruntime" (CPU) or "auto" (see the module's notes). ``images``: about how many
    images it will stylize (a folder's count; a video or a server: many), which "auto" weighs against PyTorch's
    start-up. ``concurrent_calls``: how many calls the caller will make at once (video's frames side by side);
    ONNX Runtime then gives each its share of the cores (the PyTorch backend takes one at a time)."""
    if backend not in BACKENDS:
        raise StyleBankError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    path = Path(model) if model else default_model_path()
    if path.suffix.lower() == ".onnx":
        if backend == "torch":
            raise StyleBankError(f"{model} is an ONNX file: use --backend onnxruntime (or a .safetensors model)")
        return OnnxModel(path, concurrent_calls=concurrent_calls)
    if backend == "torch" or torch_is_faster(backend, device, images):
        if backend == "onnxruntime":
            raise StyleBankError("the ONNX Runtime backend runs on the CPU; use --device cpu (or auto)")
        from .pytorch import load

        return load(path, device)
    styles = style_names(path)
    if styles is None:  # metadata without style names: the PyTorch loader says what is wrong with the file
        from .pytorch import load

        return load(path, device)
    if backend == "onnxruntime":
        return exported(path, styles, concurrent_calls)
    try:
        if importlib.util.find_spec("onnxruntime") is None:
            raise CannotExport("onnxruntime cannot be imported here (pip install onnxruntime)")
        return FallbackStylizer(exported(path, styles, concurrent_calls), path)
    except CannotExport as why:
        from .pytorch import load

        warnings.warn(f"{why}; stylizing with the PyTorch backend", BackendNote, stacklevel=2)
        return load(path, device)
