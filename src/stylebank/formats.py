"""What identifies a stylebank file, read without PyTorch: the metadata key and formats of model files, style
files and checkpoints (their layouts are described in stylebank.checkpoint), ``read_info``, and where the bundled
model is."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

from .errors import StyleBankError
from .network_config import NetworkConfig, expected_shapes

METADATA_KEY = "stylebank"
MODEL_FORMAT = "stylebank-model"
CHECKPOINT_FORMAT = "stylebank-checkpoint"
STYLE_FORMAT = "stylebank-style"
FORMAT_VERSION = 1
STYLE_IMAGE_PREFIX = "style_image."
DEFAULT_MODEL_NAME = "default.safetensors"
# the longer side style images are trained and kept at, where a model file does not record it (TrainConfig's default)
DEFAULT_STYLE_SIZE = 256


def default_model_path() -> Path:
    """The model bundled with the package (trained offline on the bundled photos; see the README)."""
    return Path(str(resources.files("stylebank") / "models" / DEFAULT_MODEL_NAME))


def read_info(path: str | Path, expected_format: str) -> dict:
    """The JSON metadata of a stylebank file, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise StyleBankError(f"{path}: no such file")
    try:  # parsing safetensors runs no code, so it comes first; only a file that fails is looked at further
        with safe_open(str(path), "numpy") as handle:  # "pt" maps the file a second time: a race with a writer
            raw = (handle.metadata() or {}).get(METADATA_KEY)
    except (SafetensorError, OSError, ValueError) as error:
        with open(path, "rb") as file:
            start = file.read(2)
        if start == b"PK" or (start[:1] == b"\x80" and start[1:] in (b"\x02", b"\x03", b"\x04", b"\x05")):
            raise StyleBankError(f"{path}: a PyTorch/pickle file; stylebank reads only .safetensors models and "
                                 "style files (unpickling can run code, so it never does)") from None
        if path.suffix.lower() == ".onnx":
            raise StyleBankError(f"{path}: an ONNX export; it runs with `stylebank stylize -m {path}`, while this "
                                 "command needs the .safetensors model it was exported from") from None
        raise StyleBankError(f"{path}: not a valid safetensors file, or truncated ({error})") from None
    if raw is None:
        raise StyleBankError(f"{path}: a safetensors file without stylebank metadata")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as error:
        raise StyleBankError(f"{path}: corrupt stylebank metadata ({error})") from None
    if not isinstance(info, dict) or info.get("format") != expected_format:
        found = info.get("format") if isinstance(info, dict) else None
        raise StyleBankError(f"{path}: expected a {expected_format} file, found {found!r}")
    if info.get("format_version") != FORMAT_VERSION:
        raise StyleBankError(f"{path}: format version {info.get('format_version')!r}; "
                             f"this stylebank reads version {FORMAT_VERSION}")
    return info


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """A file's tensors as numpy arrays; refuses weights that are not finite (they would only ever paint NaN)."""
    from safetensors.numpy import load_file

    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise StyleBankError(f"{path}: cannot read tensors ({error})") from None
    broken = [name for name, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if broken:
        raise StyleBankError(f"{path}: non-finite weights (NaN or inf) in {', '.join(sorted(broken)[:3])}")
    return arrays


def network_of(info: dict, path: str | Path) -> tuple[NetworkConfig, list[str]]:
    """The network's shape and the style names a file's metadata describes, checked."""
    try:
        config = NetworkConfig.from_dict(info["network"])
        styles = info["styles"]
        if not isinstance(styles, list) or not all(isinstance(s, str) and s for s in styles):
            raise ValueError(f"styles must be a list of names, got {styles!r:.80}")
    except (KeyError, TypeError, ValueError) as error:
        raise StyleBankError(f"{path}: bad network description in metadata ({error})") from None
    return config, styles


def check_weights(info: dict, shapes: dict[str, list[int]], path: str | Path) -> NetworkConfig:
    """That the weights' names and shapes (style images aside) are those of the network the metadata
    describes; returns its shape."""
    config, styles = network_of(info, path)
    expected = expected_shapes(config, len(styles))
    weights = {name: list(shape) for name, shape in shapes.items() if not name.startswith(STYLE_IMAGE_PREFIX)}
    problems = [f"missing {name}" for name in expected if name not in weights]
    problems += [f"unexpected {name}" for name in weights if name not in expected]
    problems += [f"{name} is {weights[name]}, expected {shape}" for name, shape in expected.items()
                 if name in weights and weights[name] != shape]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise StyleBankError(f"{path}: weights don't match the network described in the file "
                             f"({'; '.join(problems[:3])}{more})")
    return config


def run_summary(training: dict, styles: list[str], loss_network: str) -> dict:
    """One run in a model's history: what it was and what it trained."""
    return {"command": "add-style" if training.get("base_model") else "train", "styles": list(styles),
            "iterations": training.get("steps_done"), "image_size": training.get("image_size"),
            "batch_size": training.get("batch_size"), "lr": training.get("lr"), "loss_network": loss_network,
            "world_size": training.get("world_size", 1),
            "started_from": training.get("init_from") or training.get("base_model")}


def model_history(info: dict) -> list[dict]:
    """The runs that made a model, oldest first: its recorded history or, for a file written before models kept
    one, its last run alone (marked "earlier runs unrecorded" where it started from another model)."""
    training = info.get("training") or {}
    if isinstance(training.get("history"), list):
        return training["history"]
    if not training:
        return []
    last = run_summary(training, info.get("styles", []), info.get("loss_network", "unknown"))
    return [{**last, "earlier_runs_unrecorded": bool(training.get("init_from") or training.get("base_model"))}]


def trained_style_size(info: dict) -> int:
    """The size (longer side) at which a model file's styles were trained and their images are kept."""
    return int((info.get("training") or {}).get("style_size", DEFAULT_STYLE_SIZE))
