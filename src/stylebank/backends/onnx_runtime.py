"""The ONNX Runtime backend: an exported model (stylebank.backends.export) run on the CPU with numpy and ONNX Runtime
alone, behind the same ``Stylizer`` contract as the PyTorch model; and the key that names a model file's export.
Needs onnxruntime (a dependency of stylebank); exporting needs the ``onnx`` extra."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import queue
import threading
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np

from ..cache import cache_dir
from ..colour import match_colours
from ..errors import StyleBankError
from ..formats import STYLE_IMAGE_PREFIX
from ..fusion import check_region_count, region_masks
from .stylizer import TILE_PIXELS, StylizeOptions, Stylizer

ONNX_METADATA_KEY = "stylebank"
ONNX_INPUTS = ("image", "region_weights", "masks", "strength")
# In the cache's file names: exports of an earlier graph (2: regions painted as one picture; 1: no regions) are not
# taken for this one.
GRAPH_VERSION = 3


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def require(module: str) -> ModuleType:
    """An optional module of the ``onnx`` extra, or a StyleBankError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise StyleBankError(f"the ONNX backend needs {module}: pip install 'stylebank[onnx]'") from None


def weights_key(tensors: dict[str, np.ndarray], styles: list[str]) -> str:
    """SHA-256 of the style names and the weights (names and float32 values, in name order): what an export is
    named and checked by, from a model file's tensors (model_file_key) or a network's (export.net_weights_key)."""
    digest = hashlib.sha256(json.dumps(list(styles)).encode())
    for name in sorted(tensors):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name], np.float32).tobytes())
    return digest.hexdigest()


def cache_path_for(key: str) -> Path:
    """The cache's file for the export of the weights with this weights_key, by this graph version and torch
    version (read from the installed package's metadata, so that finding a cached export imports no torch)."""
    from importlib import metadata  # ~15 ms to import: only where an export is looked for in the cache

    try:
        version = metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        version = "none"
    return cache_dir() / "onnx" / f"{key[:16]}-v{GRAPH_VERSION}-torch{version}.onnx"


def model_file_key(path: str | Path, styles: list[str]) -> str:
    """weights_key of a model file, read with numpy (its style images are not weights)."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types
        raise StyleBankError(f"{path}: cannot read tensors ({error})") from None
    return weights_key({k: v for k, v in tensors.items() if not k.startswith(STYLE_IMAGE_PREFIX)}, styles)


class OnnxModel(Stylizer):
    """An exported model run by ONNX Runtime on the CPU: ``stylize()`` as for StyleBankModel (fp32, untiled).
    ``concurrent_calls``: set up for that many calls at once, each with a session of its own on its share of the
    cores (``threads``, unless given; a session's thread pool is not shared between calls): two 640x360 frames side
    by side on 2 cores take 0.88x the time of one after the other on both (benchmarks/video_speed.py)."""

    def __init__(self, path: str | Path, threads: int | None = None, concurrent_calls: int = 1):
        ort = require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise StyleBankError(f"{path}: no such file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # its warnings are about graph rewrites, not for our users
        self.concurrent_calls = max(1, concurrent_calls)
        if self.concurrent_calls > 1 and not threads:
            threads = max(1, usable_cpus() // self.concurrent_calls)
        if threads:
            options.intra_op_num_threads = threads
        self.make_session = partial(ort.InferenceSession, str(self.path), options, providers=["CPUExecutionProvider"])
        try:
            session = self.make_session()
            info = json.loads(session.get_modelmeta().custom_metadata_map[ONNX_METADATA_KEY])
        except Exception as error:  # onnxruntime raises its own exception types for bad files
            raise StyleBankError(f"{path}: not a stylebank ONNX model ({str(error).splitlines()[0]})") from None
        self.info = info
        self.has_regions = [i.name for i in session.get_inputs()] == list(ONNX_INPUTS)
        # one session per call that runs at once, the others made when first needed (a file opened only to read
        # its key costs one)
        self.sessions_made, self.making = 1, threading.Lock()
        self.free_sessions: queue.SimpleQueue = queue.SimpleQueue()
        self.free_sessions.put(session)

    def session(self):
        """A session no other call is using: a free one, a new one while fewer than concurrent_calls exist, or
        the next to be freed. Give it back with ``free_sessions.put``."""
        try:
            return self.free_sessions.get_nowait()
        except queue.Empty:
            pass
        with self.making:
            if self.sessions_made < self.concurrent_calls:
                self.sessions_made += 1
                return self.make_session()
        return self.free_sessions.get()

    @property
    def styles(self) -> list[str]:
        return list(self.info["styles"])

    @property
    def graph_version(self) -> int:
        """GRAPH_VERSION of the export that wrote the file (recorded from version 3; earlier ones told by inputs)."""
        return self.info.get("graph", 2 if self.has_regions else 1)

    @property
    def weights_key(self) -> str | None:
        """The weights_key of the model it was exported from (None in files exported before it was recorded)."""
        return self.info.get("weights")

    def refusal(self, options: StylizeOptions, size: tuple[int, int]) -> str | None:
        """Why this backend cannot stylize an image of ``size`` (height, width) with ``options``, or None."""
        if options.tile or (options.tile is None and size[0] * size[1] > TILE_PIXELS):
            return ("tiles (--tile, and images above 2048x2048 pixels, which are tiled) need the PyTorch backend"
                    if options.tile is None else "tiles (--tile) need the PyTorch backend")
        if options.precision not in ("auto", "fp32"):
            return "the ONNX Runtime backend computes in fp32; use --precision fp32 or auto"
        if options.mask is not None and not self.has_regions:
            return f"regions (--mask/--regions) need a newer export than {self.path.name}; export the model again"
        return None

    def render_array(self, batch: np.ndarray, options: StylizeOptions) -> np.ndarray:
        """(B, 3, H, W) float32 in [0, 1] -> stylized, as StyleBankModel.render."""
        refusal = self.refusal(options, batch.shape[-2:])
        if refusal:
            raise StyleBankError(refusal)
        mixes = options.resolved(self.styles).mixes
        weights = np.zeros((len(mixes), len(self.styles)), np.float32)
        for region, mix in enumerate(mixes):
            for index, weight in mix.items():
                weights[region, index] = weight
        outputs = [self.stylize_image(image, weights, options) for image in np.asarray(batch, np.float32)]
        return np.clip(np.concatenate(outputs), 0, 1)

    def stylize_image(self, image: np.ndarray, weights: np.ndarray, options: StylizeOptions) -> np.ndarray:
        """One (3, H, W) image. Below strength 1 the style's picture is mixed with the reconstruction, its colours
        matched to the photo's, as StyleBankNet.fuse does; the graph's strength input mixes features, so the graph
        runs at 1 and at 0."""
        strength = options.strength
        session = self.session()
        try:
            painted = None if strength == 0 else session.run(None, self.feed(image, weights, options, 1.0))[0]
            if strength == 1:
                return painted
            reconstruction = session.run(None, self.feed(image, weights, options, 0.0))[0]
        finally:
            self.free_sessions.put(session)
        reconstruction = match_colours(reconstruction, image[None])
        return reconstruction if painted is None else reconstruction + strength * (painted - reconstruction)

    def feed(self, image: np.ndarray, weights: np.ndarray, options: StylizeOptions,
             strength: float) -> dict[str, np.ndarray]:
        """The graph's inputs for one (3, H, W) image at the graph's ``strength``."""
        strength = np.array(strength, np.float32)
        if not self.has_regions:
            return {"image": image[None], "style_weights": weights[0], "strength": strength}
        if options.mask is None:
            masks = np.ones((1, *image.shape[-2:]), np.float32)
        else:
            masks = region_masks(options.mask, image)
            check_region_count(masks, len(weights))
        return {"image": image[None], "region_weights": weights, "masks": masks, "strength": strength}
