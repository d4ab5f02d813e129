"""ONNX export (the ONNX Runtime backend that runs the file is stylebank.backends.onnx_runtime).

The exported graph takes the image (1, 3, H, W) of any size, R regions' masks (R, H, W) with one weight per style
for each region (R, S), and a strength, and blends the style banks' filters inside the graph: a bank is one
linear conv, so sum_i w_i K_i(F) is a single conv with the weighted sum of the filters, and strength s is
(1 - s) identity + s blend (the backend runs it at 1 and 0 and mixes the pictures, as StyleBankNet.fuse does).
The R regions' blends run as one conv with R times the output channels, decoded as a batch of R and composited by
the masks as StyleBankNet.fuse composites them. One file serves every style, blend, region mask and strength; a
single style or blend is one region whose mask is all ones, and costs one bank conv and one decoding whatever the
number of styles. Files exported before regions existed take ``style_weights`` (S,) and no masks.

Needs the ``onnx`` extra: ``pip install 'stylebank[onnx]'`` (onnx, onnxscript; onnxruntime runs the file).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..atomic import atomic_write
from ..errors import StyleBankError
from ..model import MIN_SIZE, StyleBankNet, region_pixel_masks
from .onnx_runtime import GRAPH_VERSION, ONNX_INPUTS, ONNX_METADATA_KEY, cache_path_for, require, weights_key

OPSET = 18


class BlendedBankNet(nn.Module):
    """forward(image, region_weights, masks, strength) = sum_r M_r D((1 - s) E(I) + s sum_i w_ri K_i(E(I))), the
    banks blended as filters, each region's features decoded as one sample of a batch and the pictures
    composited by the masks as StyleBankNet.fuse composites them (model.region_pixel_masks)."""

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

    def forward(self, image: torch.Tensor, region_weights: torch.Tensor, masks: torch.Tensor,
                strength: torch.Tensor) -> torch.Tensor:
        weights = strength * region_weights  # (R, S)
        kernels = (1 - strength) * self.identity + torch.einsum("rs,soikl->roikl", weights, self.bank_weights)
        regions, channels = kernels.shape[:2]
        features, encoded = self.net.encode(image)
        fused = F.conv2d(F.pad(features, [self.padding] * 4, mode="reflect"),
                         kernels.reshape(regions * channels, *kernels.shape[2:]), (weights @ self.bank_biases).flatten())
        painted = self.net.decode(fused.reshape(regions, channels, *fused.shape[-2:]), encoded.repeated(regions))
        return (painted * region_pixel_masks(masks, features.shape[-2:])).sum(0, keepdim=True)


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
    example = (torch.rand(1, 3, 67, 90), torch.full((2, net.num_styles), 1 / net.num_styles),
               torch.full((2, 67, 90), 0.5), torch.tensor(1.0))
    height, width = torch.export.Dim("height", min=MIN_SIZE), torch.export.Dim("width", min=MIN_SIZE)
    regions = torch.export.Dim("regions", min=1)
    # the exporter writes its graph and a side file of weights (.data): both in a scratch folder that goes with
    # them; the one self-contained file is then written atomically, with the usual permissions
    with tempfile.TemporaryDirectory(prefix="stylebank-export-") as scratch:
        exported = Path(scratch) / "model.onnx"
        with quiet_exporter():
            torch.onnx.export(module, example, str(exported), dynamo=True, opset_version=OPSET, verbose=False,
                              input_names=list(ONNX_INPUTS), output_names=["stylized"],
                              dynamic_shapes={"image": {2: height, 3: width}, "region_weights": {0: regions},
                                              "masks": {0: regions, 1: height, 2: width}, "strength": None})
        graph = onnx.load(str(exported))
    entry = graph.metadata_props.add()
    recorded = {"styles": list(styles), "source": str(source), "weights": net_weights_key(net, styles),
                "graph": GRAPH_VERSION}
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(recorded)
    return atomic_write(path, lambda file: file.write(graph.SerializeToString()))


def net_weights_key(net: StyleBankNet, styles: list[str]) -> str:
    """weights_key of ``net`` in memory: the key its model file has (the same names and values)."""
    return weights_key({name: tensor.detach().cpu().numpy() for name, tensor in net.state_dict().items()}, styles)


def onnx_cache_path(net: StyleBankNet, styles: list[str]) -> Path:
    """Where the cache keeps ``net``'s export: named by its weights and style names (not by a file's bytes, so
    a model edited in memory, or the same model saved again, finds the right export); see cache_path_for."""
    return cache_path_for(net_weights_key(net, styles))


def cached_onnx(net: StyleBankNet, styles: list[str], source: str | Path | None = None) -> Path:
    """``net`` exported once into the cache (see onnx_cache_path); later calls reuse the file."""
    target = onnx_cache_path(net, styles)
    return target if target.exists() else export_onnx(net, styles, target, source)
