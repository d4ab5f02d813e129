"""The ONNX Runtime backend: an exported model (stylebank.export) run on the CPU, behind the same ``Stylizer``
contract as the PyTorch model. Needs the ``onnx`` extra: ``pip install 'stylebank[onnx]'``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .errors import StyleBankError
from .export import ONNX_METADATA_KEY, require
from .fusion import parse_style
from .stylizer import Carry, StylizeOptions, Stylizer

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

    def render(self, batch: torch.Tensor, options: StylizeOptions, carry: Carry | None = None) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> stylized, as StyleBankModel.render (fp32, untiled, no masks, nothing
        carried between frames at the feature level)."""
        if carry is not None:
            raise StyleBankError("coherence at the feature level needs the PyTorch backend (the exported graph has "
                                 "no features to carry); use --coherence output or the PyTorch backend")
        if options.mask is not None:
            raise StyleBankError("regions (--mask/--regions) need the PyTorch backend")
        if options.tile:
            raise StyleBankError("tiles (--tile) need the PyTorch backend")
        if options.precision not in ("auto", "fp32"):
            raise StyleBankError("the ONNX Runtime backend computes in fp32; use --precision fp32 or auto")
        weights = np.zeros(len(self.styles), np.float32)
        for index, weight in parse_style(options.style, self.styles).items():
            weights[index] = weight
        strength = np.array(options.strength, np.float32)
        outputs = [self.session.run(None, {"image": image[None].numpy(), "style_weights": weights,
                                           "strength": strength})[0]
                   for image in batch.detach().float().cpu()]
        return torch.from_numpy(np.concatenate(outputs)).clamp_(0, 1).to(batch.device)
