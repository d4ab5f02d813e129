"""The Python API and the PyTorch backend: ``model = stylebank.load(); model.stylize(image, style=0)``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import torch
from PIL import Image

from ..checkpoint import (ModelFile, StylePixels, from_pixels, load_model, load_style_file, recorded_style_pixels,
                         save_model, save_style_file)
from ..errors import StyleBankError
from ..formats import default_model_path, trained_style_size
from ..fusion import check_region_count, region_masks, style_index
from ..images import load_image
from ..tensors import antialiased_resize, resize_to_fit, to_pil, to_tensor
from ..metrics import image_psnr
from ..model import StyleBankNet, parameter_counts
from ..runtime import autocast, has_fast_bf16, resolve_device, torch_dtype
from .stylizer import DEFAULT_TILE, TILE_PIXELS, Carry, MaskLike, StylizeOptions, Stylizer
from .tiling import stylize_tiled

# precision="auto" takes bf16 only if its output is at least this close to fp32's (PSNR, dB) on a probe photo.
AUTO_BF16_MIN_PSNR = 35.0


def checked_style_name(name: str) -> str:
    """``name`` without surrounding spaces; a StyleBankError where style specs would misread it as a number or a
    blend (``2``, ``a:1,b:1``)."""
    name = name.strip()
    if not name or name.isdigit() or any(c in name for c in ",:;="):
        raise StyleBankError(f"bad style name {name!r}: use a non-numeric name without , : ; =")
    return name


class StyleBankModel(Stylizer):
    """A trained StyleBank network with its style names, ready to stylize."""

    keeps_style_images = True

    def __init__(self, net: StyleBankNet, info: dict, device: torch.device, path: Path | None = None,
                 style_pixels: StylePixels | None = None):
        self.net = net
        self.info = info
        self.device = device
        self.path = path
        # each style's image as stored in the model file (None in files of earlier versions; see style_image)
        self.style_pixels = list(style_pixels) if style_pixels is not None else [None] * net.num_styles
        self._auto_dtype: torch.dtype | None = None  # what precision="auto" chose (see compute_dtype)
        self._cpu_networks: dict[torch.dtype, tuple[tuple, StyleBankNet]] = {}  # (weights' key, network) by dtype

    @property
    def styles(self) -> list[str]:
        """Style names, in bank order."""
        return list(self.info["styles"])

    @property
    def parameter_counts(self) -> dict[str, int]:
        """Parameters by part: encoder, decoder, per style, total (see stylebank.model.parameter_counts)."""
        return parameter_counts(self.net)

    def style_index(self, style: int | str) -> int:
        """The bank index of ``style``, given as an index or a name."""
        return style_index(style, self.styles)

    def region_masks(self, mask: MaskLike, image: torch.Tensor) -> torch.Tensor:
        """(R, H, W) masks at the image's size from a label image or ``'kmeans:K'`` (see fusion.region_masks)."""
        return torch.from_numpy(region_masks(mask, image))

    @torch.inference_mode()
    def render(self, batch: torch.Tensor, options: StylizeOptions, carry: Carry | None = None) -> torch.Tensor:
        """(B, 3, H, W) floats in [0, 1] -> stylized batch of the same size, clamped to [0, 1]. See ``stylize``;
        ``carry``: see Stylizer.render (the batch is then never tiled)."""
        dtype = self.compute_dtype(options.precision)
        if self.device.type == "cpu":  # the network itself in dtype, channels-last (see cpu_network)
            net, autocast_dtype = self.cpu_network(dtype), torch.float32
            inputs = batch.to(self.device, dtype).contiguous(memory_format=torch.channels_last)
        else:
            net, autocast_dtype = self.net, dtype
            inputs = batch.to(self.device, torch.float32)
        mixes = list(options.resolved(self.styles).mixes)
        with autocast(self.device, autocast_dtype):
            if options.mask is None:
                output = self._fuse(net, inputs, mixes, None, options, carry)
            else:
                outputs = []
                for image in inputs:
                    masks = region_masks(options.mask, image.float())
                    check_region_count(masks, len(mixes))
                    masks = torch.from_numpy(masks)
                    outputs.append(self._fuse(net, image.unsqueeze(0), mixes, masks, options, carry))
                output = torch.cat(outputs)
        return output.float().clamp_(0, 1).to(batch.device)

    def cpu_network(self, dtype: torch.dtype) -> StyleBankNet:
        """The network as a CPU stylizes with it: a copy in ``dtype`` (bf16 throughout rather than autocast, which
        casts every layer's input and keeps the norms in fp32), its weights channels-last, the layout its
        convolutions and norms keep from layer to layer (see model.cpu_channels_last). Made once, and again
        when the weights change (trained, edited, styles added or removed)."""
        key = tuple((id(p), p._version) for p in self.net.parameters())
        made = self._cpu_networks.get(dtype)
        if made is None or made[0] != key:
            network = copy.deepcopy(self.net).to(dtype=dtype, memory_format=torch.channels_last).eval()
            self._cpu_networks[dtype] = made = (key, network)
        return made[1]

    def _fuse(self, net: StyleBankNet, batch: torch.Tensor, mixes: list[dict[int, float]],
              masks: torch.Tensor | None, options: StylizeOptions, carry: Carry | None = None) -> torch.Tensor:
        """The network's fuse(), in tiles when asked to (``options.tile``) or when the image is above TILE_PIXELS;
        never tiled with ``carry`` (it takes the whole picture's features)."""
        def run(part: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
            part_masks = None
            if masks is not None:
                part_masks = masks[:, rows, cols]
                if part_masks.shape[-2:] != part.shape[-2:]:  # tiling's statistics pass, on the image shrunk
                    part_masks = antialiased_resize(part_masks.unsqueeze(0), part.shape[-2:])[0]
            return net.fuse(part, mixes, part_masks, options.strength, carry)

        height, width = batch.shape[-2:]
        tile = options.tile
        if carry is not None or tile == 0 or (tile is None and height * width <= TILE_PIXELS):
            return run(batch, slice(None), slice(None))
        return stylize_tiled(net, batch, run, tile or DEFAULT_TILE)

    def compute_dtype(self, precision: str = "auto") -> torch.dtype:
        """fp32 or bf16. 'auto' is bf16 where this device runs it natively and, on a probe photo, its output
        stays within AUTO_BF16_MIN_PSNR dB of fp32's; decided once per model."""
        if precision != "auto":
            return torch_dtype(precision)
        if self._auto_dtype is None:
            self._auto_dtype = torch.float32
            if has_fast_bf16(self.device):
                probe = to_tensor(load_image("builtin:coffee")).unsqueeze(0)
                probe = resize_to_fit(probe, 128).to(self.device)
                exact = self.render(probe, StylizeOptions(precision="fp32"))
                fast = self.render(probe, StylizeOptions(precision="bf16"))
                if image_psnr(fast, exact) >= AUTO_BF16_MIN_PSNR:
                    self._auto_dtype = torch.bfloat16
        return self._auto_dtype

    @property
    def style_sources(self) -> list[str | None]:
        """Where each style's image came from when it was trained (None where unknown, e.g. imported)."""
        return list(self.info.get("style_images") or [None] * len(self.styles))

    @property
    def style_size(self) -> int:
        """The size (longer side) at which the styles were trained and their images are kept."""
        return trained_style_size(self.info)

    def style_image(self, style: int | str) -> torch.Tensor:
        """The image ``style`` was trained on, (3, H, W) floats in [0, 1] at the training style size: the pixels
        stored in the model file, or for a file of an earlier version the image at the path recorded at training."""
        index = self.style_index(style)
        pixels = self.stored_or_recorded_pixels(index)
        if pixels is None:
            raise StyleBankError(self.missing_style_image(index))
        return from_pixels(pixels)

    def style_picture(self, style: int | str) -> Image.Image:
        """style_image as a picture (what the studio shows)."""
        return to_pil(self.style_image(style))

    def stored_or_recorded_pixels(self, index: int) -> torch.Tensor | None:
        """Style ``index``'s stored pixels, or (older files) those at its recorded path where it is found."""
        return recorded_style_pixels(self.style_pixels[index:index + 1], self.style_sources[index:index + 1],
                                     self.style_size)[0]

    def missing_style_image(self, index: int) -> str:
        """Why style ``index`` has no image, and what to do about it."""
        name, source = self.styles[index], self.style_sources[index]
        if source is None:
            return f"no image is kept for style {name!r} (imported from a style file without one)"
        return (f"{source}: no such file. {self.path} was written before stylebank kept style images in the model "
                f"file and names the image of style {name!r} by the path it was trained with (relative to the "
                "folder it was trained in); run from there, or store the images in a copy of the model from there: "
                f"stylebank styles {self.path} -o NEW.safetensors")

    def save(self, path: str | Path) -> Path:
        """Write this model (with any styles added, removed, renamed or imported) to a model file, with its style
        images (for a file of an earlier version: those found at the recorded paths)."""
        self.style_pixels = recorded_style_pixels(self.style_pixels, self.style_sources, self.style_size)
        self.path = save_model(path, self.net, self.styles, self.info.get("loss_network", "unknown"),
                               self.info.get("training", {}), self.style_sources, self.style_pixels)
        return self.path

    def remove_styles(self, *styles: int | str) -> None:
        """Drop styles (by index or name) from this model; E, D and the other banks are untouched."""
        doomed = sorted({self.style_index(s) for s in styles}, reverse=True)
        if len(doomed) == len(self.styles):
            raise StyleBankError("refusing to remove every style: a model needs at least one")
        sources = self.style_sources
        for index in doomed:
            del self.net.bank[index]
            del self.info["styles"][index]
            del sources[index]
            del self.style_pixels[index]
        self.info["style_images"] = sources

    def rename_style(self, style: int | str, new_name: str) -> None:
        """Give a style a new name (unique within the model)."""
        index = self.style_index(style)
        new_name = checked_style_name(new_name)
        if new_name in self.styles and self.styles.index(new_name) != index:
            raise StyleBankError(f"this model already has a style named {new_name!r}")
        self.info["styles"][index] = new_name

    def export_style(self, style: int | str, path: str | Path) -> Path:
        """Write one style to a style file (its bank, name, and the fingerprint of this model's E/D)."""
        index = self.style_index(style)
        return save_style_file(path, self.net, index, self.styles[index], self.info.get("loss_network", "unknown"),
                               self.style_sources[index], self.stored_or_recorded_pixels(index))

    def import_style(self, *paths: str | Path, rename: Mapping[str, str] | None = None) -> list[str]:
        """Append the styles in style files; refused if they were trained with another encoder/decoder.
        ``rename``: {name in a style file: name here}, e.g. for a name this model already has. Returns the names."""
        loaded = [load_style_file(path, self.net) for path in paths]
        names = self.imported_names([info["name"] for _, info, _ in loaded], rename or {})
        sources = self.style_sources
        for (bank, info, pixels), name in zip(loaded, names):
            self.net.bank.append(bank.to(self.device).eval())
            self.info["styles"].append(name)
            sources.append(info.get("style_image"))
            self.style_pixels.append(pixels)
        self.info["style_images"] = sources
        return names

    def imported_names(self, names: list[str], rename: Mapping[str, str]) -> list[str]:
        """The names that styles named ``names`` in their style files get here: ``rename`` applied, each checked
        as rename_style checks a name, and unique in the model."""
        unknown = sorted(set(rename) - set(names))
        if unknown:
            raise StyleBankError(f"cannot rename {', '.join(unknown)}: the style files hold {', '.join(names)}")
        new_names = [checked_style_name(rename[name]) if name in rename else name for name in names]
        taken = {new: old for old, new in zip(names, new_names) if new in self.styles}
        if taken:
            old = next(iter(taken.values()))  # its name in the style file, which --rename takes
            raise StyleBankError(f"a style named {', '.join(taken)} is already in the model; import it under "
                                 f"another name: --rename {old}=NEW (rename={{{old!r}: 'NEW'}} in Python)")
        repeated = sorted({name for name in new_names if new_names.count(name) > 1})
        if repeated:
            raise StyleBankError(f"more than one imported style would be named {', '.join(repeated)}; import them "
                                 "one at a time, giving one another name with --rename")
        return new_names

    def add_styles(self, styles: list[str], output: str | Path, content: list[str] | None = None,
                   progress: bool = True, quality: bool = False, **options) -> Path:
        """Learn new styles on top of this model (E, D and the existing banks stay bit-identical); writes
        ``output`` and loads the result into this object. As ``stylebank add-style``: quick by default, each style
        in about a minute (``options``: QuickStyleConfig fields, e.g. ``seconds``, ``steps``, ``image_size``;
        and ``max_pixels``); ``quality=True`` trains the full way (``options``: TrainConfig fields, e.g.
        ``iterations``)."""
        base = ModelFile(self.net, self.info, self.style_pixels)  # as it is now, edits included (never changed)
        if quality:
            from ..training.loop import add_styles

            path = add_styles(base, styles, output, content=content, progress=progress, **options)
        else:
            from ..training.quick_style import quick_add_styles, quick_style_config

            max_pixels = options.pop("max_pixels", None)
            path = quick_add_styles(base, styles, output, content, quick_style_config(options), progress,
                                    max_pixels)
        self.net, self.info, self.style_pixels = load_model(path, self.device)
        self.path = Path(path)
        return self.path

    def export_onnx(self, path: str | Path) -> Path:
        """Write this model as ONNX (any image size; style weights and strength are inputs). See
        stylebank.backends.export."""
        from .export import export_onnx

        return export_onnx(self.net, self.styles, path, source=self.path)

    def __repr__(self) -> str:
        return f"StyleBankModel(styles={self.styles}, device={self.device})"


def load(path: str | Path | None = None, device: str | torch.device | None = None) -> StyleBankModel:
    """Load a model file (default: the bundled model) onto ``device`` (default: the best available)."""
    path = Path(path) if path else default_model_path()
    target = resolve_device(device)
    net, info, style_pixels = load_model(path, target)
    return StyleBankModel(net, info, target, path, style_pixels)
