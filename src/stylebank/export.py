"""ONNX export, and stylizing with ONNX Runtime.

The exported graph takes the image (1, 3, H, W) of any size, one weight per style and a strength, and blends the
style banks' filters inside the graph: a bank is one linear conv, so sum_i w_i K_i(F) is a single conv with
the weighted sum of the filters, and strength s is (1 - s) identity + s blend. One file serves every style, every
blend and every strength, and costs one bank conv whatever the number of styles. Regions (masks) need the
PyTorch backend.

Needs the ``onnx`` extra: ``pip install 'stylebank[onnx]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .api import Stylizer, StyleBankModel
from .atomic import sync_folder
from .errors import StyleBankError
from .fusion import StyleLike, parse_style
from .lossnet import cache_dir
from .model import MIN_SIZE, StyleBankNet

ONNX_METADATA_KEY = "stylebank"
OPSET = 18


def require(module: str):
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
        features, size = self.net.encode(image)
        fused = F.conv2d(F.pad(features, [self.padding] * 4, mode="reflect"), kernel, bias)
        return self.net.decode(fused, size)


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


def export_onnx(model: StyleBankModel, path: str | Path) -> Path:
    """Write ``model`` as an ONNX file with dynamic height and width; style names go in its metadata."""
    require("onnxscript")
    onnx = require("onnx")
    path = Path(path)
    module = BlendedBankNet(model.net.to("cpu").float()).eval()
    # an example that needs padding on both sides, so that the padding stays in the graph for every size
    example = (torch.rand(1, 3, 67, 90), torch.full((model.net.num_styles,), 1 / model.net.num_styles),
               torch.tensor(1.0))
    height, width = torch.export.Dim("height", min=MIN_SIZE), torch.export.Dim("width", min=MIN_SIZE)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with quiet_exporter():
            torch.onnx.export(module, example, temporary, dynamo=True, opset_version=OPSET, verbose=False,
                              input_names=["image", "style_weights", "strength"], output_names=["stylized"],
                              dynamic_shapes={"image": {2: height, 3: width}, "style_weights": None,
                                              "strength": None})
        graph = onnx.load(temporary)
        entry = graph.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_KEY, json.dumps({"styles": model.styles, "source": str(model.path)})
        onnx.save(graph, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        model.net.to(model.device)
    sync_folder(path.parent)
    return path


def cached_onnx(model: StyleBankModel) -> Path:
    """The model exported once into the cache, keyed by the model file's contents."""
    digest = hashlib.sha256(Path(model.path).read_bytes()).hexdigest()[:16]
    target = cache_dir() / "onnx" / f"{digest}-torch{torch.__version__.split('+')[0]}.onnx"
    return target if target.exists() else export_onnx(model, target)


class OnnxModel(Stylizer):
    """An exported model run by ONNX Runtime on the CPU: ``stylize()`` as for StyleBankModel, without masks."""

    def __init__(self, path: str | Path):
        ort = require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise StyleBankError(f"{path}: no such file")
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
            info = json.loads(self.session.get_modelmeta().custom_metadata_map[ONNX_METADATA_KEY])
        except Exception as error:  # onnxruntime raises its own exception types for bad files
            raise StyleBankError(f"{path}: not a stylebank ONNX model ({str(error).splitlines()[0]})") from None
        self.info = info
        self.device = torch.device("cpu")

    @property
    def styles(self) -> list[str]:
        return list(self.info["styles"])

    def stylize_tensor(self, images: torch.Tensor, style: StyleLike | list[StyleLike] = 0, mask=None,
                       strength: float = 1.0, preserve_color: bool = False, precision: str = "fp32",
                       tile: int | None = None) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> stylized, like StyleBankModel.stylize_tensor (fp32, untiled, no masks)."""
        if mask is not None:
            raise StyleBankError("regions (--mask/--regions) need the PyTorch backend")
        if tile:
            raise StyleBankError("tiles (--tile) need the PyTorch backend")
        if precision not in ("auto", "fp32"):
            raise StyleBankError("the ONNX Runtime backend computes in fp32; use --precision fp32 or auto")
        self.check_strength(strength)
        weights = np.zeros(len(self.styles), np.float32)
        for index, weight in parse_style(style, self.styles).items():
            weights[index] = weight
        inputs = images.detach().float().cpu()
        outputs = [self.session.run(None, {"image": image[None].numpy(), "style_weights": weights,
                                           "strength": np.array(strength, np.float32)})[0]
                   for image in inputs]
        output = torch.from_numpy(np.concatenate(outputs)).clamp_(0, 1)
        return self.finish(output, inputs, preserve_color).to(images.device)
