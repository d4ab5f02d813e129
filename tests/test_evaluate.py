import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
from stylebank.cli import main
from stylebank.evaluate import centre_square, image_ssim
from stylebank.metrics import image_psnr
from stylebank.images import load_image
from stylebank.tensors import to_tensor
from stylebank.gatys import gatys_optimize, stylize_by_optimization
from stylebank.losses import LossWeights, StylizingLoss
from stylebank.lossnet import random_vgg
from stylebank.config import TrainConfig
from stylebank.training.loop import train


def test_metrics_on_known_inputs():
    image = torch.rand(3, 32, 40, generator=torch.Generator().manual_seed(0))
    assert image_psnr(image, image) == math.inf and abs(image_ssim(image, image) - 1) < 1e-12
    flat = torch.full((3, 16, 16), 0.5)
    assert abs(image_psnr(flat + 0.1, flat) - 20.0) < 1e-4  # MSE 0.01 -> 20 dB
    assert image_ssim(torch.rand(3, 32, 40), image) < 0.5
    assert centre_square(torch.rand(3, 30, 60), 20).shape == (3, 20, 20)


def test_gatys_lowers_its_objective():
    generator = torch.Generator().manual_seed(0)
    style, content = torch.rand(3, 32, 32, generator=generator), torch.rand(1, 3, 32, 32, generator=generator)
    criterion = StylizingLoss(random_vgg(), [style], LossWeights(1, 4, 0.1))
    image, history = gatys_optimize(criterion, content, 0, steps=30)
    assert history[-1] < 0.5 * history[0] and image.shape == content.shape
    assert 0 <= image.min() and image.max() <= 1


def test_stylize_by_optimization_from_pictures():
    rng = np.random.default_rng(0)
    content = Image.fromarray(rng.integers(0, 256, (40, 60, 3), np.uint8))
    style = Image.fromarray(rng.integers(0, 256, (20, 20, 3), np.uint8))  # enlarged to style_size
    image, history = stylize_by_optimization(content, style, steps=20, max_size=30, style_size=32, vgg="random",
                                             weights=LossWeights(1, 4, 0.1), device="cpu")
    assert isinstance(image, Image.Image) and image.size == (30, 20)  # shrunk to max_size first
    assert len(history) == 20 and history[-1] < 0.5 * history[0]


def test_eval_json_has_the_documented_keys(tiny_data, capsys):
    config = TrainConfig(content=[str(tiny_data["content"])], styles=[str(s) for s in tiny_data["styles"]],
                         output=str(tiny_data["root"] / "m.safetensors"), image_size=32, style_size=32, batch_size=2,
                         iterations=3, vgg="random", warmup=0, device="cpu",
                         preview=str(tiny_data["content"] / "photo0.png"))
    model = train(config, progress=False)
    assert main(["eval", "-m", str(model), "--content", str(tiny_data["content"]), "--image-size", "32",
                 "--baseline", "gatys", "--steps", "3", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["reconstruction"]) >= {"psnr", "ssim", "per_image"} and len(result["images"]) == 3
    assert list(result["styles"]) == ["zebra", "blobs"]
    for entry in result["styles"].values():
        assert {"content_loss", "style_loss", "reconstruction_style_loss", "seconds_per_image"} <= set(entry)
        assert {"content_loss", "style_loss"} <= set(entry["gatys"]) and {"content", "style"} <= set(entry["ratios"])

    # and the values agree with each other and with the model
    reconstruction = result["reconstruction"]
    per_image = reconstruction["per_image"]
    assert sorted(per_image) == sorted(result["images"]) == sorted(map(str, tiny_data["content"].rglob("*.png")))
    for key in ("psnr", "ssim", "psnr_strength_0"):
        assert reconstruction[key] == pytest.approx(sum(v[key] for v in per_image.values()) / 3, rel=1e-9)
    assert result["image_size"] == 32 and result["loss_network"].startswith("random")
    net = stylebank.load(model, "cpu").net
    for name, scores in per_image.items():
        photo = centre_square(to_tensor(load_image(name)), 32)  # each photo measured at 32x32
        with torch.no_grad():
            rebuilt = net.reconstruct(photo.unsqueeze(0)).clamp(0, 1)[0]
        mse = torch.mean((rebuilt - photo) ** 2).item()
        assert scores["psnr"] == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
        assert 0 < scores["ssim"] < 1 and scores["ssim"] == pytest.approx(image_ssim(rebuilt, photo), rel=1e-6)
        at_zero = stylebank.load(model, "cpu").stylize(photo, strength=0, precision="fp32")
        assert scores["psnr_strength_0"] == pytest.approx(image_psnr(at_zero, photo), rel=1e-5)
        assert scores["psnr_strength_0"] > scores["psnr"]  # the colour map fitted to the photo can only help
    for entry in result["styles"].values():
        gatys, ratios = entry["gatys"], entry["ratios"]
        numbers = [entry[k] for k in ("content_loss", "style_loss", "reconstruction_style_loss",
                                      "seconds_per_image")] + [gatys["content_loss"], gatys["style_loss"]]
        assert all(math.isfinite(x) and x > 0 for x in numbers), entry
        assert gatys["steps"] == 3 and gatys["seconds_per_image"] > 0
        assert ratios["content"] == pytest.approx(entry["content_loss"] / gatys["content_loss"], rel=1e-9)
        assert ratios["style"] == pytest.approx(entry["style_loss"] / gatys["style_loss"], rel=1e-9)

    photo0 = str(tiny_data["content"] / "photo0.png")
    assert main(["eval", "-m", str(model), "--content", photo0, "--image-size", "32", "--device", "cpu"]) == 0
    report = capsys.readouterr().out
    assert "| zebra |" in report and f"PSNR {per_image[photo0]['psnr']:.2f} dB" in report
    assert f"at strength 0 (its colours matched to the photo's): PSNR {per_image[photo0]['psnr_strength_0']:.2f} dB" \
        in report


def test_optimize_command_writes_an_image(tiny_data, tmp_path, capsys):
    out = tmp_path / "gatys.png"
    assert main(["optimize", str(tiny_data["content"] / "photo0.png"), "--style", str(tiny_data["styles"][0]),
                 "-o", str(out), "--steps", "5", "--vgg", "random", "--device", "cpu"]) == 0
    assert out.exists() and "5 steps" in capsys.readouterr().out
