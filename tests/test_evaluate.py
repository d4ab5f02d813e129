import json
import math

import torch

from stylebank.cli import main
from stylebank.evaluate import centre_square, image_psnr, image_ssim
from stylebank.gatys import gatys_optimize
from stylebank.losses import LossWeights, StylizingLoss
from stylebank.lossnet import random_vgg
from stylebank.train import TrainConfig, train


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
    assert main(["eval", "-m", str(model), "--content", str(tiny_data["content"] / "photo0.png"),
                 "--image-size", "32", "--device", "cpu"]) == 0
    assert "| zebra |" in capsys.readouterr().out


def test_optimize_command_writes_an_image(tiny_data, tmp_path, capsys):
    out = tmp_path / "gatys.png"
    assert main(["optimize", str(tiny_data["content"] / "photo0.png"), "--style", str(tiny_data["styles"][0]),
                 "-o", str(out), "--steps", "5", "--vgg", "random", "--device", "cpu"]) == 0
    assert out.exists() and "5 steps" in capsys.readouterr().out
