"""StyleBank: feed-forward neural style transfer with one shared encoder/decoder and a bank of per-style filters.

    >>> import stylebank
    >>> model = stylebank.load()                 # the bundled model
    >>> out = model.stylize(image, style="mosaic")
"""

from . import samples
from .api import StyleBankModel, default_model_path, load, load_onnx
from .config import TrainConfig
from .errors import StyleBankError
from .gatys import stylize_by_optimization
from .model import NetworkConfig, StyleBankNet
from .stylizer import StylizeOptions, Stylizer
from .train import add_styles, train

__version__ = "0.1.0"
__all__ = ["NetworkConfig", "StyleBankError", "StyleBankModel", "StyleBankNet", "StylizeOptions", "Stylizer",
           "TrainConfig", "__version__", "add_styles", "default_model_path", "load", "load_onnx", "samples",
           "stylize_by_optimization", "train"]
