"""StyleBank: feed-forward neural style transfer with one shared encoder/decoder and a bank of per-style filters.

    >>> import stylebank
    >>> model = stylebank.load()                 # the bundled model (PyTorch)
    >>> out = model.stylize(image, style="mosaic")
    >>> fast = stylebank.load_stylizer()         # the same model on ONNX Runtime where it can (no PyTorch import)

Names are imported when first used (PEP 562), so that ``import stylebank`` and the command line do not pay for
PyTorch where they do not need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "samples": ".samples",
    "StyleBankModel": ".backends.pytorch", "load": ".backends.pytorch",
    "default_model_path": ".formats",
    "load_stylizer": ".backends.auto",
    "TrainConfig": ".config",
    "StyleBankError": ".errors",
    "stylize_by_optimization": ".gatys",
    "NetworkConfig": ".network_config",
    "StyleBankNet": ".model",
    "StylizeOptions": ".backends.stylizer", "Stylizer": ".backends.stylizer",
    "add_styles": ".training.loop", "train": ".training.loop",
}
__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:
    from . import samples
    from .backends.pytorch import StyleBankModel, load
    from .backends.auto import load_stylizer
    from .config import TrainConfig
    from .errors import StyleBankError
    from .formats import default_model_path
    from .gatys import stylize_by_optimization
    from .model import StyleBankNet
    from .network_config import NetworkConfig
    from .backends.stylizer import StylizeOptions, Stylizer
    from .training.loop import add_styles, train


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'stylebank' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name], __name__)
    value = module if name == "samples" else getattr(module, name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__
