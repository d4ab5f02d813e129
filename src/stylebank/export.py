"""ONNX export (the ONNX Runtime backend that runs the file is stylebank.onnx_backend).

The exported graph takes the image (1, 3, H, W) of any size, one weight per style and a strength, and blends the
style banks' filters inside the graph: a bank is one linear conv, so sum_i w_i K_i(F) is a single conv with
the weighted sum of the filters, and strength s is (1 - s) identity + s blend. One file serves every style, every
blend and every strength, and costs one bank conv whatever the number of styles. Regions (masks) need the
PyTorch backend.

Needs the ``onnx`` extra: ``pip install 'stylebank[onnx]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from .atomic import atomic_write
from .checkpoint import weights_digest
from .errors import StyleBankError
from .lossnet import cache_dir
from .model import MIN_SIZE, StyleBankNet

ONNX_METADATA_KEY = "stylebank"
OPSET = 18


def require(module: str) -> ModuleType:
    """An optional module of the ``onnx`` extra, or a StyleBankError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise StyleBankError(f"the ONNX backend needs {module}: pip install 'stylebank[onnx]'") from None


class BlendedBankNet(nn.Module):
    """forward(image, style_weights, strength) = D((1 - s) E(I) + s sum_i w_i K_i(E(I))), banks blended as filters."""

    def __init__(self, net: StyleBankNet):
        super().__init__()
        if net.config.bank_depth != 1:
            raise StyleBankError("ONNX export needs one-conv style banks (the paper's); this model's banks are "
                                 f"{net.config.bank_depth} convs deep")
        self.net = net
        convs = [bank[1] for bank in net.bank]
        self.register_buffer("bank_weights", torch.stack([c.weight.detach() for c in convs]))  # (S, C, C, k, k)
        self.register_buffer("bank_biases", torch.stack([c.bias.detach() for c in convs]))  # (S, C)
        channels, kernel = self.bank_weights.shape[1], self.bank_weights.shape[-1]
        identity = torch.zeros(channels, channels, kernel, kernel)
        identity[range(channels), range(channels), kernel // 2, kernel // 2] = 1
        self.register_buffer("identity", identity)
        self.padding = kernel // 2

    def forward(self, image: torch.Tensor, style_weights: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        weights = strength * style_weights
        kernel = (1 - strength) * self.identity + torch.einsum("s,soikl->oikl", weights, self.bank_weights)
        bias = weights @ self.bank_biases
        features, encoded = self.net.encode(image)
        fused = F.conv2d(F.pad(features, [self.padding] * 4, mode="reflect"), kernel, bias)
        return self.net.decode(fused, encoded)


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter's progress lines, log lines and deprecation notes are not for our users."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(net: StyleBankNet, styles: list[str], path: str | Path, source: str | Path | None = None) -> Path:
    """Write ``net`` as an ONNX file with dynamic height and width; the style names (and ``source``, the model
    file it came from) go in its metadata. ``net`` itself is not changed (the export works on a CPU copy)."""
    require("onnxscript")
    onnx = require("onnx")
    path = Path(path)
    module = BlendedBankNet(copy.deepcopy(net).to("cpu").float()).eval()
    # an example that needs padding on both sides, so that the padding stays in the graph for every size
    example = (torch.rand(1, 3, 67, 90), torch.full((net.num_styles,), 1 / net.num_styles), torch.tensor(1.0))
    height, width = torch.export.Dim("height", min=MIN_SIZE), torch.export.Dim("width", min=MIN_SIZE)
    # the exporter writes its graph and a side file of weights (.data): both in a scratch folder that goes with
    # them; the one self-contained file is then written atomically, with the usual permissions
    with tempfile.TemporaryDirectory(prefix="stylebank-export-") as scratch:
        exported = Path(scratch) / "model.onnx"
        with quiet_exporter():
            torch.onnx.export(module, example, str(exported), dynamo=True, opset_version=OPSET, verbose=False,
                              input_names=["image", "style_weights", "strength"], output_names=["stylized"],
                              dynamic_shapes={"image": {2: height, 3: width}, "style_weights": None,
                                              "strength": None})
        graph = onnx.load(str(exported))
    entry = graph.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps({"styles": list(styles), "source": str(source)})
    return atomic_write(path, lambda file: file.write(graph.SerializeToString()))


def onnx_cache_path(net: StyleBankNet, styles: list[str]) -> Path:
    """Where the cache keeps ``net``'s export: named by its weights and style names (not by a file's bytes, so
    a model edited in memory, or the same model saved again, finds the right export) and the torch version."""
    digest = weights_digest(net, digest=hashlib.sha256(json.dumps(list(styles)).encode()))
    return cache_dir() / "onnx" / f"{digest.hexdigest()[:16]}-torch{torch.__version__.split('+')[0]}.onnx"


def cached_onnx(net: StyleBankNet, styles: list[str], source: str | Path | None = None) -> Path:
    """``net`` exported once into the cache (see onnx_cache_path); later calls reuse the file."""
    target = onnx_cache_path(net, styles)
    return target if target.exists() else export_onnx(net, styles, target, source)
