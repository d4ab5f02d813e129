"""The fast paths give the plain path's images: tiles, bf16, ONNX Runtime (timings are in benchmarks/, not here)."""

import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
import stylebank.api
import stylebank.tiling
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.images import load_image, resize_to_fit, to_tensor
from stylebank.losses import image_psnr as psnr


@pytest.fixture(scope="module")
def model():
    return stylebank.load(device="cpu")


@pytest.fixture(scope="module")
def photo():
    return resize_to_fit(to_tensor(load_image("builtin:coffee")), 150)  # 150x100


def test_tiles_match_the_whole_image(model, photo):
    whole = model.stylize(photo, style="0:0.3,2:0.7", strength=0.8, precision="fp32", tile=0)
    tiled = model.stylize(photo, style="0:0.3,2:0.7", strength=0.8, precision="fp32", tile=32)
    assert (tiled - whole).abs().max() < 1e-5


def test_tiles_match_with_regions(model, photo):
    labels = np.zeros(photo.shape[-2:], np.uint8)
    labels[:, 70:] = 1
    whole = model.stylize(photo, style="1,3", mask=labels, precision="fp32", tile=0)
    tiled = model.stylize(photo, style="1,3", mask=labels, precision="fp32", tile=40)
    assert (tiled - whole).abs().max() < 1e-5


def test_large_images_are_tiled_automatically(model, photo, monkeypatch):
    whole = model.stylize(photo, style=1, precision="fp32", tile=0)
    calls = []
    real = stylebank.api.stylize_tiled
    monkeypatch.setattr(stylebank.api, "stylize_tiled", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(stylebank.api, "TILE_PIXELS", 64 * 64)
    assert (model.stylize(photo, style=1, precision="fp32") - whole).abs().max() < 1e-5 and calls


def test_statistics_from_a_shrunk_image_stay_close(model, monkeypatch):
    photo = resize_to_fit(to_tensor(load_image("builtin:astronaut")), 256)
    whole = model.stylize(photo, style=2, precision="fp32", tile=0)
    monkeypatch.setattr(stylebank.tiling, "STATS_PIXELS", 128 * 128)  # statistics from a quarter of the pixels
    # a global tone shift only (about 28 dB here); tiles normalised on their own would give about 14 dB
    assert psnr(model.stylize(photo, style=2, precision="fp32", tile=64), whole) > 25


def test_bf16_stays_close_to_fp32(model, photo):
    exact = model.stylize(photo, style=0, precision="fp32")
    assert psnr(model.stylize(photo, style=0, precision="bf16"), exact) >= 35


def test_auto_precision(photo, monkeypatch):
    monkeypatch.setattr(stylebank.api, "has_fast_bf16", lambda device: False)
    plain = stylebank.load(device="cpu")
    assert torch.equal(plain.stylize(photo, precision="auto"), plain.stylize(photo, precision="fp32"))
    monkeypatch.setattr(stylebank.api, "has_fast_bf16", lambda device: True)
    assert stylebank.load(device="cpu").compute_dtype("auto") == torch.bfloat16  # it passes the 35 dB probe
    with pytest.raises(StyleBankError, match="precision must be one of"):
        plain.stylize(photo, precision="fp16")


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    return model.export_onnx(tmp_path_factory.mktemp("onnx") / "model.onnx")


def test_onnx_runtime_matches_pytorch(model, onnx_file):
    runner = stylebank.load_onnx(onnx_file)
    assert runner.styles == model.styles
    odd = torch.rand(1, 3, 37, 61, generator=torch.Generator().manual_seed(0))
    for style, strength in ((0, 1.0), ("1:0.25,3:0.75", 1.0), ("waves", 0.4)):
        expected = model.stylize(odd, style=style, strength=strength, precision="fp32")
        assert (runner.stylize(odd, style=style, strength=strength) - expected).abs().max() <= 1e-3
    with pytest.raises(StyleBankError, match="PyTorch backend"):
        runner.stylize(odd, style="0,1", mask="kmeans:2")
    with pytest.raises(StyleBankError, match="PyTorch backend"):
        runner.stylize(odd, tile=16)


def test_onnx_from_the_command_line(onnx_file, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)).save(photo)
    outputs = {}
    for name, extra in (("torch", ["--precision", "fp32"]), ("file", ["-m", str(onnx_file)]),
                        ("cached", ["--backend", "onnxruntime"])):
        outputs[name] = tmp_path / f"{name}.png"
        assert main(["stylize", str(photo), "-s", "1", "-o", str(outputs[name]), *extra]) == 0
    pixels = {name: np.asarray(Image.open(path), np.int16) for name, path in outputs.items()}
    assert np.abs(pixels["file"] - pixels["torch"]).max() <= 1 and np.array_equal(pixels["file"], pixels["cached"])
    assert main(["export", "-o", str(tmp_path / "again.onnx")]) == 0 and (tmp_path / "again.onnx").stat().st_size


def test_a_bad_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(StyleBankError, match="not a stylebank ONNX model"):
        stylebank.load_onnx(bad)


def test_deep_banks_cannot_be_exported_to_onnx(tmp_path):
    from stylebank.checkpoint import save_model
    from stylebank.model import NetworkConfig, StyleBankNet

    path = save_model(tmp_path / "deep.safetensors", StyleBankNet(2, NetworkConfig(bank_depth=2)), ["a", "b"],
                      "random:0", {})
    with pytest.raises(StyleBankError, match="one-conv style banks"):
        stylebank.load(path, "cpu").export_onnx(tmp_path / "deep.onnx")
    assert not (tmp_path / "deep.onnx").exists()
