"""StyleBank: feed-forward neural style transfer with one shared encoder/decoder and a bank of per-style filters.

    >>> import stylebank
    >>> model = stylebank.load()                 # the bundled model
    >>> out = model.stylize(image, style="mosaic")
"""

from .api import StyleBankModel, Stylizer, default_model_path, load, load_onnx
from .errors import StyleBankError
from .model import NetworkConfig, StyleBankNet
from .config import TrainConfig
from .train import train
from . import samples

__version__ = "0.1.0"
__all__ = ["samples", "StyleBankError", "StyleBankModel", "Stylizer", "load_onnx", "StyleBankNet", "NetworkConfig", "TrainConfig", "default_model_path",
           "load", "train", "__version__"]
