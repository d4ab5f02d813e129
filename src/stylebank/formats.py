"""What identifies a stylebank file, read without PyTorch: the metadata key and formats of model files, style
files and checkpoints (their layouts are described in stylebank.checkpoint), ``read_info``, and where the bundled
model is."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from safetensors import SafetensorError, safe_open

from .errors import StyleBankError

METADATA_KEY = "stylebank"
MODEL_FORMAT = "stylebank-model"
CHECKPOINT_FORMAT = "stylebank-checkpoint"
STYLE_FORMAT = "stylebank-style"
FORMAT_VERSION = 1
STYLE_IMAGE_PREFIX = "style_image."
DEFAULT_MODEL_NAME = "default.safetensors"


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
