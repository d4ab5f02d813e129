"""The StyleBank network: a shared encoder E, one small filter bank K_i per style, a shared decoder D.

Layout as in Chen et al. (CVPR 2017): E = conv9x9 s1 (3->32), conv3x3 s2 (32->64), conv3x3 s2 (64->128);
K_i = conv3x3 128->128 (linear by default); D mirrors E with nearest x2 up-sampling + conv, then a 9x9 conv
back to RGB and a sigmoid. InstanceNorm + ReLU follow every conv but the bank's and the last one.

The instance norm after E's first conv removes exactly a global affine change of the input (its brightness and
contrast), so in the paper's layout every photo reconstructs at one "typical" exposure. ``NetworkConfig.exposure``
chooses: "paper" (that layout), "no_first_norm" (E's first conv without its norm), or "carry" (the input's
per-channel mean and log standard deviation set the scale and shift of D's last norm, learned from zero).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .colour import apply_colour_map, colour_map
from .errors import StyleBankError
from .fusion import masks_to_features
from .network_config import EXPOSURE_LAYOUTS, MIN_SIZE, SIZE_MULTIPLE, NetworkConfig  # noqa: F401 (the network's names)
from .network_config import parameter_counts as count_by_shapes

# A stride-1 conv with fewer output channels than this runs as phase_conv: CPU conv kernels work on blocks of
# 8-16 output channels, so D's last conv (32 -> 3, 9x9) otherwise wastes most of its arithmetic (2.4x slower).
FEW_OUTPUT_CHANNELS = 16


def cpu_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` is a CPU tensor stored channels-last: the layout the inference path keeps from layer to layer
    (oneDNN's convolutions run several times faster in it than on NCHW, which they reorder to and from:
    benchmarks/speed.py's channels-last rows against the NCHW ones)."""
    return (x.device.type == "cpu" and x.dim() == 4 and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last))


Modulation = tuple[torch.Tensor, torch.Tensor]  # (scale, shift), each (B, C, 1, 1): x * (1 + scale) + shift


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance normalisation, then an optional modulation (see ``Modulation``), that keeps a channels-last
    CPU tensor channels-last.

    PyTorch's instance norm returns NCHW from a channels-last input, slowly, and the next convolution reorders it
    back. Each sample of a channels-last tensor is an (H*W, C) matrix in memory, and normalising each
    channel over H and W is what batch norm does over the rows of that matrix (with the batch's statistics):
    the same values, without the layout changes, and with the modulation folded into the affine weights. Other
    tensors take nn.InstanceNorm2d's path."""

    def __init__(self, channels: int):
        super().__init__(channels, affine=True)

    def forward(self, x: torch.Tensor, modulation: Modulation | None = None) -> torch.Tensor:
        if not cpu_channels_last(x):
            out = super().forward(x)
            return out if modulation is None else modulate(out, modulation)
        batch, channels, height, width = x.shape
        weights, biases = self.weight.expand(batch, -1), self.bias.expand(batch, -1)
        if modulation is not None:
            scale, shift = (m.reshape(batch, channels) for m in modulation)
            weights, biases = weights * (1 + scale), biases * (1 + scale) + shift
        rows = [F.batch_norm(sample.permute(1, 2, 0).reshape(height * width, channels), None, None, weight, bias,
                             training=True, eps=self.eps) for sample, weight, bias in zip(x, weights, biases)]
        out = rows[0].unsqueeze(0) if batch == 1 else torch.stack(rows)
        return out.view(batch, height, width, channels).permute(0, 3, 1, 2)


def modulate(x: torch.Tensor, modulation: Modulation) -> torch.Tensor:
    scale, shift = modulation
    return x * (1 + scale) + shift


class ConvLayer(nn.Sequential):
    """Reflection padding then a convolution, so borders carry no zero-padding artefacts."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad, conv = self[0], self[1]
        if conv.stride == (1, 1) and conv.kernel_size[0] > 1 and conv.out_channels < FEW_OUTPUT_CHANNELS:
            return phase_conv(pad(x), conv, x.shape[-2:])
        return conv(pad(x))


def phase_conv(padded: torch.Tensor, conv: nn.Conv2d, size: tuple[int, int]) -> torch.Tensor:
    """conv(padded) cropped to ``size``, computed as a stride-2 conv with 4x the output channels, one per output
    phase (row and column parity), then interleaved by pixel_shuffle.

    Phase (a, b) of the output is the kernel placed at offset (a, b) in a kernel one tap larger, applied with
    stride 2: the same sums (the extra taps are zeros), so the result equals the plain conv up to float rounding,
    with the same parameters and gradients; 1.2x the arithmetic, but in a shape the CPU's conv kernels run well.
    """
    weight, bias = conv.weight, conv.bias
    out_channels, in_channels, kernel, _ = weight.shape
    phases = weight.new_zeros(out_channels, 2, 2, in_channels, kernel + 1, kernel + 1)
    for a in (0, 1):
        for b in (0, 1):
            phases[:, a, b, :, a:a + kernel, b:b + kernel] = weight
    height, width = size
    padded = F.pad(padded, (0, width % 2, 0, height % 2))  # an odd side: one more column or row, cropped below
    out = F.conv2d(padded, phases.reshape(4 * out_channels, in_channels, kernel + 1, kernel + 1),
                   None if bias is None else bias.repeat_interleave(4), stride=2)
    return F.pixel_shuffle(out, 2)[..., :height, :width]


class ConvNormReLU(nn.Sequential):
    """(Nearest x2 up-sampling,) conv, instance norm (unless ``norm`` is False), ReLU. ``forward`` takes an
    optional Modulation of the normalised features."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, upsample: bool = False,
                 norm: bool = True):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        layers.append(ConvLayer(in_channels, out_channels, kernel_size, stride))
        if norm:
            layers.append(InstanceNorm(out_channels))
        super().__init__(*layers, nn.ReLU(inplace=True))
        self.upsample = upsample and kernel_size == 3 and norm

    def forward(self, x: torch.Tensor, modulation: Modulation | None = None) -> torch.Tensor:
        *layers, relu = self
        if self.upsample:
            _, conv_layer, norm = layers
            return relu(norm(upsample_conv3x3(x, conv_layer[1]), modulation))
        *layers, last = layers
        for layer in layers:
            x = layer(x)
        if isinstance(last, InstanceNorm):
            return relu(last(x, modulation))
        x = last(x)
        return relu(x if modulation is None else modulate(x, modulation))


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(reflection_pad_1(nearest_upsample_x2(x))), computed at the low resolution: 2.25x fewer FLOPs.

    Each output pixel of a 3x3 conv over a nearest-upsampled map sees only 2x2 distinct input pixels, with the
    taps that fall on the same pixel summed; there are four such 2x2 kernels, one per output phase (row and
    column parity a, b). They run as one conv with 4x the output channels over x padded by 1 (reflecting the
    upsampled map at its border is replicating x), and output pixel (2i + a, 2j + b) is phase (a, b)'s output at
    (i + a, j + b). The result equals the plain computation up to float rounding, with the same parameters and
    gradients.
    """
    weight, bias = conv.weight, conv.bias
    top, middle, bottom = weight[:, :, 0], weight[:, :, 1], weight[:, :, 2]
    kernels = []  # phase (a, b) is kernels[2a + b], a 2x2 kernel
    for rows in (torch.stack([top, middle + bottom], 2), torch.stack([top + middle, bottom], 2)):
        left, centre, right = rows[..., 0], rows[..., 1], rows[..., 2]
        kernels += [torch.stack([left, centre + right], -1), torch.stack([left + centre, right], -1)]
    out = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), torch.cat(kernels),
                   None if bias is None else bias.repeat(4))
    height, width = x.shape[-2:]
    if cpu_channels_last(out):
        return interleave_channels_last(out, height, width)
    batch, channels = x.shape[0], weight.shape[0]
    out = out.view(batch, 2, 2, channels, height + 1, width + 1)
    phases = torch.stack([torch.stack([out[:, a, b, :, a:a + height, b:b + width] for b in (0, 1)], -1)
                          for a in (0, 1)], -3)  # (batch, channels, height, 2, width, 2)
    return phases.reshape(batch, channels, 2 * height, 2 * width)


def interleave_channels_last(out: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """upsample_conv3x3's phases (B, 4C, height + 1, width + 1), channels-last, interleaved into (B, C, 2 height,
    2 width), channels-last: four copies of whole pixels (the stacking of the NCHW path, done there as strided
    element copies, costs several times more, and ONNX has no cheap form of these writes, so it stays)."""
    batch, channels = out.shape[0], out.shape[1] // 4
    phases = out.permute(0, 2, 3, 1).view(batch, height + 1, width + 1, 2, 2, channels)
    result = out.new_empty(batch, height, 2, width, 2, channels)
    for a in (0, 1):
        for b in (0, 1):
            result[:, :, a, :, b] = phases[:, a:a + height, b:b + width, a, b]
    return result.view(batch, 2 * height, 2 * width, channels).permute(0, 3, 1, 2)


class Encoder(nn.Sequential):
    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128), first_norm: bool = True):
        c1, c2, c3 = channels
        super().__init__(
            ConvNormReLU(3, c1, 9, norm=first_norm),
            ConvNormReLU(c1, c2, 3, stride=2),
            ConvNormReLU(c2, c3, 3, stride=2),
        )


class ImageStatistics(nn.Module):
    """(B, 6): each colour channel's mean and log standard deviation over the image, what the instance norms
    remove. Its own module, so that tiled inference can record it on the whole image (see stylebank.backends.tiling)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        variance, mean = torch.var_mean(images.float(), dim=(2, 3), correction=0)
        return torch.cat([mean, 0.5 * torch.log(variance + 1e-5)], dim=1).to(images.dtype)


class ColourMatch(nn.Module):
    """(B, 3, 4): the affine colour map from a reconstruction to its photo (stylebank.colour). Its own module, so
    that tiled inference fits it on the whole image and applies that one map to every tile."""

    def forward(self, reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return colour_map(reconstruction.float(), images.float())


class Decoder(nn.Sequential):
    def __init__(self, channels: tuple[int, int, int] = (32, 64, 128), carry_exposure: bool = False):
        c1, c2, c3 = channels
        # Nearest x2 then conv instead of a transposed conv: no checkerboard artefacts.
        super().__init__(
            ConvNormReLU(c3, c2, 3, upsample=True),
            ConvNormReLU(c2, c1, 3, upsample=True),
            ConvLayer(c1, 3, 9),
            # Not in the paper: squashing to [0, 1] stops the stylizing loss from driving pixels (and so the
            # Gram matrices, quartic in them) out of range, which otherwise blows training up.
            nn.Sigmoid(),
        )
        self.exposure = None
        if carry_exposure:  # the input's statistics -> scale and shift of the last norm; zero: the paper's D
            self.exposure = nn.Linear(6, 2 * c1)
            nn.init.zeros_(self.exposure.weight)
            nn.init.zeros_(self.exposure.bias)

    def forward(self, features: torch.Tensor, exposure: torch.Tensor | None = None) -> torch.Tensor:
        first, last, to_rgb, squash = self[0], self[1], self[2], self[3]
        modulation = None
        if self.exposure is not None and exposure is not None:
            scale, shift = self.exposure(exposure)[..., None, None].chunk(2, dim=1)
            modulation = (scale, shift)
        return squash(to_rgb(last(first(features), modulation)))


def make_bank(channels: int, depth: int, kernel_size: int) -> nn.Sequential:
    """One style's filter bank K_i, initialised to the identity map so that D(K_i(F)) starts at D(F).

    Starting from the reconstruction (as Gatys' optimisation starts from the content image) keeps the
    content while the style is learned, instead of starting from noise.
    """
    layers: list[nn.Module] = []
    for i in range(depth):
        if i > 0:
            layers.append(nn.ReLU())  # features from E are non-negative, so ReLU keeps the identity exact
        conv = nn.Conv2d(channels, channels, kernel_size)
        layers += [nn.ReflectionPad2d(kernel_size // 2), conv]
        with torch.no_grad():
            conv.weight.mul_(0.01)
            centre = kernel_size // 2
            conv.weight[:, :, centre, centre] += torch.eye(channels)
            conv.bias.zero_()
    return nn.Sequential(*layers)


class Encoded(NamedTuple):
    """What decoding needs of an encoded image besides its features."""

    size: tuple[int, int]  # the image's (height, width) before padding
    statistics: torch.Tensor | None  # ImageStatistics of the input, for the "carry" layout

    def repeated(self, count: int) -> "Encoded":
        """The same for ``count`` decodings of the batch one after another (its regions)."""
        statistics = None if self.statistics is None else self.statistics.repeat(count, 1)
        return self._replace(statistics=statistics)


class StyleBankNet(nn.Module):
    """E, the style banks K and D. ``forward(x, style)`` stylizes; ``reconstruct(x)`` is the auto-encoder D(E(x)).

    Images are float tensors (B, 3, H, W) in [0, 1] of any size >= MIN_SIZE; outputs have the input's size.
    """

    def __init__(self, num_styles: int, config: NetworkConfig | None = None):
        super().__init__()
        self.config = config or NetworkConfig()
        self.encoder = Encoder(self.config.channels, first_norm=self.config.exposure != "no_first_norm")
        carry = self.config.exposure == "carry"
        self.decoder = Decoder(self.config.channels, carry_exposure=carry)
        self.image_statistics = ImageStatistics() if carry else None
        self.colour_match = ColourMatch()
        self.bank = nn.ModuleList(self.new_bank() for _ in range(num_styles))

    @property
    def num_styles(self) -> int:
        return len(self.bank)

    def new_bank(self) -> nn.Sequential:
        return make_bank(self.config.channels[-1], self.config.bank_depth, self.config.bank_kernel_size)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, Encoded]:
        """Pad to a multiple of SIZE_MULTIPLE and encode; returns the features and what decode needs besides them
        (the original size, and the input's statistics where the layout carries them)."""
        height, width = images.shape[-2:]
        if min(height, width) < MIN_SIZE:
            raise StyleBankError(f"image is {width}x{height}; StyleBank needs at least {MIN_SIZE}x{MIN_SIZE} pixels")
        statistics = self.image_statistics(images) if self.image_statistics is not None else None
        pad_h, pad_w = -height % SIZE_MULTIPLE, -width % SIZE_MULTIPLE
        if pad_h or pad_w:
            images = F.pad(images, (0, pad_w, 0, pad_h), mode="reflect")
        return self.encoder(images), Encoded((height, width), statistics)

    def decode(self, features: torch.Tensor, encoded: Encoded) -> torch.Tensor:
        height, width = encoded.size
        return self.decoder(features, encoded.statistics)[..., :height, :width]

    def apply_banks(self, features: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """Apply K_{styles[b]} to sample b of the batch."""
        out = torch.empty_like(features)
        for index in styles.unique().tolist():
            if not 0 <= index < self.num_styles:
                raise IndexError(f"style index {index} out of range: the model has {self.num_styles} styles")
            chosen = styles == index
            out[chosen] = self.bank[index](features[chosen])
        return out

    def blend_banks(self, features: torch.Tensor, weights: dict[int, float]) -> torch.Tensor:
        """Linear fusion: sum_i w_i K_i(F) (for linear banks, the same as blending the filters)."""
        blended = None
        for index, weight in weights.items():
            if weight == 0:
                continue
            styled = self.bank[index](features)
            styled = styled if weight == 1 else weight * styled
            blended = styled if blended is None else blended + styled
        if blended is None:
            raise ValueError("style weights are all zero")
        return blended

    def fuse(self, images: torch.Tensor, mixes: list[dict[int, float]], masks: torch.Tensor | None = None,
             strength: float = 1.0, carry=None) -> torch.Tensor:
        """Stylize with style blends, optionally per region, at a strength in [0, 1].

        ``mixes[r]`` maps style index -> weight for region r; ``masks`` (R, H, W) at image size, soft, summing to 1
        over regions (None: one region, the whole image), the same for every image of the batch.

        Each region's features are decoded over the whole image and the pictures composited by the masks
        (region_pixel_masks): the decoder's instance norms then see one style's statistics, so a region looks as
        its style does on the whole photo (painted as one picture, the paper's sum_r M_r K_r(F), each region's
        norms mixed its neighbours' statistics in and its style came out washed out: benchmarks/regions.py).

        Strength s mixes the pictures, (1 - s) R + s O, where R is the reconstruction D(E(I)) with its colours
        matched to the photo's (matched_reconstruction): at 0 every style returns R, and the picture changes about
        evenly with s (mixing the features instead, D((1 - s) F + s K(F)), was 84-87% of the way to the full style
        at 0.5: benchmarks/strength.py). ``carry``, a function of the stylized features (as
        fuse_features returns them; video's coherence), gives what the decoder paints instead.
        """
        features, encoded = self.encode(images)
        if strength == 0 and carry is None:  # the reconstruction alone: no bank to apply, nothing to composite
            return self.matched_reconstruction(self.decode(features, encoded), images)
        stylized = self.fuse_features(features, mixes, masks)
        if carry is not None:
            stylized = carry(stylized)
        regions = 1 if masks is None else len(masks)
        if strength < 1:  # the reconstruction decoded in the same batch: one call per layer, as tiling records them
            stylized = torch.cat([stylized, features])
        decoded = self.decode(stylized, encoded.repeated(regions + (strength < 1))).split(len(images))
        painted = decoded[0] if masks is None else sum(
            picture * weight for picture, weight in zip(decoded, region_pixel_masks(masks.to(images.dtype),
                                                                                  features.shape[-2:])))
        if strength == 1:
            return painted
        return torch.lerp(self.matched_reconstruction(decoded[-1], images), painted, strength)

    def matched_reconstruction(self, reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The reconstruction D(E(I)) with its colours mapped to the photo's (stylebank.colour): the decoder, shared
        with the styles, pulls a photo's colours toward the paintings'; strength 0 should not."""
        return apply_colour_map(reconstruction, self.colour_match(reconstruction, images))

    def fuse_features(self, features: torch.Tensor, mixes: list[dict[int, float]],
                      masks: torch.Tensor | None = None) -> torch.Tensor:
        """fuse()'s middle: the encoded features F -> the stylized features that the decoder paints (video carries
        these from frame to frame): (B, C, h, w) for one region, (R * B, C, h, w) for R regions, region by region."""
        if masks is None:
            if len(mixes) != 1:
                raise ValueError(f"{len(mixes)} region styles but no mask")
            return self.blend_banks(features, mixes[0])
        if masks.shape[0] != len(mixes):
            raise ValueError(f"the mask has {masks.shape[0]} regions but {len(mixes)} region styles were given")
        return torch.cat([self.blend_banks(features, mix) for mix in mixes])

    def forward(self, images: torch.Tensor, styles: torch.Tensor | int | None = None) -> torch.Tensor:
        """Stylize: O_i = D(K_i(E(I))). ``styles`` is one index or one index per sample; None reconstructs,
        D(E(I)) (training calls both branches through here, as DistributedDataParallel needs)."""
        if styles is None:
            return self.reconstruct(images)
        if isinstance(styles, int):
            styles = torch.full((images.shape[0],), styles, dtype=torch.long)
        features, encoded = self.encode(images)
        return self.decode(self.apply_banks(features, styles.to(features.device)), encoded)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """The auto-encoder branch: O = D(E(I))."""
        features, encoded = self.encode(images)
        return self.decode(features, encoded)


def region_pixel_masks(masks: torch.Tensor, feature_size: tuple[int, int]) -> torch.Tensor:
    """Region masks (R, H, W) -> (R, 1, H, W) weights for compositing the regions' pictures: averaged over each
    feature pixel's block (fusion.masks_to_features) and spread back bilinearly, so that neighbouring regions
    cross-fade over a few pixels instead of meeting at a hard, aliased edge."""
    height, width = masks.shape[-2:]
    soft = F.interpolate(masks_to_features(masks, feature_size), scale_factor=SIZE_MULTIPLE, mode="bilinear")
    return soft[..., :height, :width]


def parameter_counts(net: StyleBankNet) -> dict[str, int]:
    """Every parameter, grouped: encoder, decoder, per style, plus the conv/norm split (see
    network_config.parameter_counts)."""
    return count_by_shapes({name: tuple(p.shape) for name, p in net.named_parameters()}, net.config)
