import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import stylebank
from stylebank.checkpoint import save_model
from stylebank.cli import main
from stylebank.colour import match_colours
from stylebank.errors import StyleBankError
from stylebank.fusion import (kmeans_masks, label_masks, parse_region_styles, parse_regions, parse_style,
                              keep_content_colors)
from stylebank.fusion import masks_to_features
from stylebank.images import load_image
from stylebank.metrics import image_psnr
from stylebank.model import StyleBankNet
from stylebank.tensors import resize_to_fit, to_tensor

NAMES = ["mosaic", "strokes", "waves", "ihc"]


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    net = StyleBankNet(4)
    with torch.no_grad():
        for bank in net.bank:  # banks far from the identity, so that styles differ clearly
            bank[1].weight.normal_(0, 0.05)
    return stylebank.load(save_model(tmp_path / "m.safetensors", net, NAMES, "random:0", {}), "cpu")


@pytest.fixture
def photo():
    generator = torch.Generator().manual_seed(0)
    return torch.rand(3, 37, 50, generator=generator)


def test_style_specs():
    assert parse_style("waves", NAMES) == {2: 1.0}
    assert parse_style(3, NAMES) == {3: 1.0}
    assert parse_style("0:0.5,2:0.5", NAMES) == {0: 0.5, 2: 0.5}
    assert parse_style("mosaic:1,waves:3", NAMES) == {0: 0.25, 2: 0.75}
    assert parse_style({"ihc": 2, 1: 2}, NAMES) == {3: 0.5, 1: 0.5}
    assert parse_region_styles("3,0,1", NAMES) == [{3: 1.0}, {0: 1.0}, {1: 1.0}]
    assert parse_region_styles("0:0.5,2:0.5;ihc", NAMES) == [{0: 0.5, 2: 0.5}, {3: 1.0}]
    assert parse_regions("kmeans:3") == 3


@pytest.mark.parametrize("spec, message", [
    ("starry", "unknown style 'starry'"), ("0:-1,1:1", ">= 0"), ("0:0,1:0", "sum to 0"), ("7", "out of range"),
    ("0:x", "bad weight"), (":0.5", "bad style spec"), ("0:nan", "finite"),
])
def test_bad_style_specs_are_clear_errors(spec, message):
    with pytest.raises(StyleBankError, match=message):
        parse_style(spec, NAMES)


def test_bad_region_specs():
    with pytest.raises(StyleBankError, match="one style per region"):
        parse_region_styles("0,,1", NAMES)
    for spec in ("kmeans", "kmeans:0", "slic:3"):
        with pytest.raises(StyleBankError, match="kmeans:K"):
            parse_regions(spec)


def test_one_hot_blend_is_exactly_the_single_style(model, photo):
    single = model.stylize(photo, style=2)
    assert torch.equal(model.stylize(photo, style="0:0,2:1"), single)
    assert torch.equal(model.stylize(photo, style={"waves": 1.0}), single)
    half = model.stylize(photo, style="0:0.5,2:0.5")
    assert not torch.equal(half, single) and not torch.equal(half, model.stylize(photo, style=0))


def test_linear_fusion_blends_features(model, photo):
    net = model.net
    with torch.no_grad():
        features, size = net.encode(photo.unsqueeze(0))
        expected = net.decode(0.25 * net.bank[1](features) + 0.75 * net.bank[3](features), size).clamp(0, 1)
    assert torch.allclose(model.stylize(photo, style="1:1,3:3", precision="fp32"), expected[0], atol=1e-6)


def test_strength_zero_is_the_colour_matched_reconstruction_for_every_style(model, photo):
    outputs = [model.stylize(photo, style=i, strength=0, precision="fp32") for i in range(4)]
    with torch.no_grad():
        raw = model.net.reconstruct(photo.unsqueeze(0))
    reconstruction = match_colours(raw, photo.unsqueeze(0)).clamp(0, 1)[0]
    assert all(torch.equal(o, outputs[0]) for o in outputs) and torch.allclose(outputs[0], reconstruction, atol=1e-6)
    # in between, the pictures are mixed: (1 - s) R + s D(K(E(I))), so the picture changes evenly with s
    full = model.stylize(photo, style=1, precision="fp32")
    for strength in (0.3, 0.5):
        expected = ((1 - strength) * match_colours(raw, photo.unsqueeze(0)) + strength * full).clamp(0, 1)[0]
        assert torch.allclose(model.stylize(photo, style=1, strength=strength, precision="fp32"), expected,
                              atol=1e-5)
    partial = model.stylize(photo, style=1, strength=0.3, precision="fp32")
    assert (partial - full).abs().max() > 0.01 and (partial - outputs[0]).abs().max() > 0.01
    with pytest.raises(StyleBankError, match="between 0 and 1"):
        model.stylize(photo, strength=1.5)


def test_strength_zero_has_no_colour_cast_where_the_decoder_has_one():
    """The bundled model with its decoder tinting every picture (the last conv's bias moved) reconstructs with a
    cast; strength 0 gives the photo's own colours back, and the full style keeps the tint, the style's to choose."""
    model = stylebank.load(device="cpu")
    photo = resize_to_fit(to_tensor(load_image("builtin:coffee")), 128)
    with torch.no_grad():
        model.net.decoder[2][-1].bias.add_(torch.tensor([1.0, 0.0, -1.0]))
        raw = model.net.reconstruct(photo.unsqueeze(0))[0]
        styled = model.net(photo.unsqueeze(0), 1)[0]
    assert (raw - photo).mean((1, 2)).abs().max() > 0.1
    matched = model.stylize(photo, style=1, strength=0, precision="fp32")
    assert (matched - photo).mean((1, 2)).abs().max() < 0.01
    assert image_psnr(matched, photo) > image_psnr(raw.clamp(0, 1), photo) + 3
    assert torch.allclose(model.stylize(photo, style=1, precision="fp32"), styled.clamp(0, 1), atol=1e-6)


def test_a_mask_covering_everything_gives_exactly_that_style(model, photo):
    full = np.zeros((37, 50), np.uint8)
    assert torch.equal(model.stylize(photo, style=[3], mask=full), model.stylize(photo, style=3))


def test_regions_paint_their_own_styles(model, photo):
    """Away from the border each region is exactly its style as painted on the whole photo: the regions are
    decoded apart and composited, so the decoder's instance norms never mix one style's statistics into the
    other's (painted as one picture, a region's style came out washed out)."""
    labels = np.zeros(photo.shape[-2:], np.uint8)
    labels[:, 24:] = 200  # left region 0, right region 1 (the border on a feature pixel's edge)
    out = model.stylize(photo, style="1,3", mask=labels, precision="fp32")
    left, right = (model.stylize(photo, style=s, precision="fp32") for s in (1, 3))
    assert torch.allclose(out[..., :18], left[..., :18], atol=1e-5)
    assert torch.allclose(out[..., 30:], right[..., 30:], atol=1e-5)
    # at the border the two cross-fade over a few pixels, from one picture to the other
    seam = slice(18, 30)
    assert (out[..., seam] - left[..., seam]).abs().amax(dim=(0, 1))[-1] > 0.01
    assert (out[..., seam] - right[..., seam]).abs().amax(dim=(0, 1))[0] > 0.01
    assert ((out[..., seam] - left[..., seam]) * (out[..., seam] - right[..., seam]) <= 1e-6).all()  # between
    with pytest.raises(StyleBankError, match="2 regions but 3 region styles"):
        model.stylize(photo, style="1,3,0", mask=labels)


def test_label_masks_order_and_resizing(model, photo):
    labels = np.array([[9, 3], [3, 200]], np.uint8)
    masks = label_masks(labels)
    assert masks.shape == (3, 2, 2) and masks[0].tolist() == [[0, 1], [1, 0]] and masks[2, 1, 1] == 1
    colours = np.zeros((2, 2, 3), np.uint8)
    colours[0, 0] = (255, 0, 0)
    assert label_masks(Image.fromarray(colours)).shape == (2, 2, 2)
    soft = masks_to_features(label_masks(np.tile([[0] * 8 + [1] * 8], (16, 1)).astype(np.uint8)), (4, 4))
    assert soft.shape == (2, 1, 4, 4) and np.allclose(soft.sum(0), 1)
    # a mask drawn at another size is scaled to the image
    small = np.zeros((5, 5), np.uint8)
    small[:, 3:] = 1
    assert model.region_masks(small, photo).shape == (2, 37, 50)


def test_kmeans_regions_are_ordered_dark_to_bright():
    image = torch.zeros(3, 20, 30)
    image[:, :, 10:20] = 0.5
    image[:, :, 20:] = 1.0
    masks = kmeans_masks(image, 3)
    assert masks[0, :, :10].all() and masks[1, :, 10:20].all() and masks[2, :, 20:].all()


def ycbcr(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Luma and the two chroma planes of (3, H, W) in [0, 1] (ITU-R BT.601, as JPEG)."""
    r, g, b = image
    return (0.299 * r + 0.587 * g + 0.114 * b, -0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 * r - 0.418688 * g - 0.081312 * b)


def assert_luma_and_chroma(kept: torch.Tensor, luma_from: torch.Tensor, chroma_from: torch.Tensor) -> None:
    """``kept`` has the luminance of ``luma_from`` and the colours of ``chroma_from`` wherever it is not clipped."""
    inside = (kept > 0.01).all(0) & (kept < 0.99).all(0)
    assert inside.float().mean() > 0.25  # enough pixels to compare
    (y, cb, cr), (y_wanted, _, _), (_, cb_wanted, cr_wanted) = map(ycbcr, (kept, luma_from, chroma_from))
    assert torch.allclose(y[inside], y_wanted[inside], atol=1e-4)
    assert torch.allclose(cb[inside], cb_wanted[inside], atol=1e-4)
    assert torch.allclose(cr[inside], cr_wanted[inside], atol=1e-4)


def test_preserve_color_keeps_chroma_takes_luma(photo):
    # a grey stylization with the photo's colours: chroma from the photo, luminance from the grey image
    grey = photo.mean(0, keepdim=True).expand(3, -1, -1)
    kept = keep_content_colors(grey, photo)
    assert_luma_and_chroma(kept, luma_from=grey, chroma_from=photo)
    assert torch.allclose(keep_content_colors(photo, photo), photo, atol=1e-5)


def test_stylize_with_preserve_color_keeps_the_photos_colours(model, photo):
    soft = 0.25 + 0.5 * photo  # less saturated colours, so that few pixels clip
    for style in (0, "1:0.5,3:0.5"):
        stylized = model.stylize(soft, style=style, precision="fp32")
        kept = model.stylize(soft, style=style, precision="fp32", preserve_color=True)
        assert_luma_and_chroma(kept, luma_from=stylized, chroma_from=soft)
        assert (kept - stylized).abs().mean() > 0.01


def test_a_jpeg_label_mask_is_said_to_need_png(model, tmp_path, capsys):
    """JPEG compression blurs a two-colour mask into hundreds of near colours: the error says so and asks for a
    PNG (which works), where "the mask has 931 regions" alone would puzzle; a plain miscount is worded as before."""
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 52, 3), np.uint8)).save(photo)
    labels = Image.new("RGB", (160, 120), (200, 40, 30))
    ImageDraw.Draw(labels).ellipse((30, 20, 120, 100), fill=(20, 90, 200))
    command = ["stylize", str(photo), "-m", str(model.path), "--device", "cpu", "--region-styles", "0,1", "--mask"]
    for suffix in (".jpg", ".png"):
        labels.save(tmp_path / f"labels{suffix}")
    assert main(command + [str(tmp_path / "labels.jpg"), "-o", str(tmp_path / "a.png")]) == 1
    error = capsys.readouterr().err
    assert "regions but 2 region styles" in error and "lossy JPEG or WebP" in error and "save the mask as PNG" in error
    assert main(command + [str(tmp_path / "labels.png"), "-o", str(tmp_path / "b.png")]) == 0
    capsys.readouterr()
    assert main(command[:-2] + ["0,1,2", "--mask", str(tmp_path / "labels.png"), "-o", str(tmp_path / "c.png")]) == 1
    error = capsys.readouterr().err
    assert "2 regions but 3 region styles were given; give one style per region" in error and "JPEG" not in error
