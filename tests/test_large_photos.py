"""Photos above the tiling threshold (a phone's 12 MP) through every path a user's machine may take: the command
line and the studio, on the auto backend, on a CPU with AMX (PyTorch in bf16) and without (ONNX Runtime, PyTorch
for the tiles). The thresholds are lowered so that a small photo counts as large."""

import io

import pytest
import torch
from PIL import Image
from starlette.testclient import TestClient

import stylebank
import stylebank.backends.pytorch
import stylebank.backends.auto
import stylebank.backends.onnx_runtime
import stylebank.backends.tiling
from helpers import smooth_image
from stylebank.cli import main
from stylebank.images import png_bytes
from stylebank.metrics import image_psnr as psnr
from stylebank.tensors import to_tensor
from stylebank.web.app import ServerLimits, create_app
from bundled import THIRD

SIZE = (120, 90)  # width, height: "large" once the thresholds below are lowered


@pytest.fixture
def large(monkeypatch):
    monkeypatch.setattr(stylebank.backends.pytorch, "TILE_PIXELS", 64 * 64)  # tiles above 64x64 pixels
    monkeypatch.setattr(stylebank.backends.onnx_runtime, "TILE_PIXELS", 64 * 64)  # which ONNX Runtime leaves to PyTorch
    monkeypatch.setattr(stylebank.backends.pytorch, "DEFAULT_TILE", 48)
    monkeypatch.setattr(stylebank.backends.tiling, "STATS_PIXELS", 48 * 48)  # statistics from a shrunk copy


def machine(monkeypatch, amx: bool) -> None:
    """A CPU with AMX (bf16 natively; the auto backend gives PyTorch many images) or one without."""
    monkeypatch.setattr(stylebank.backends.auto, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)


def reference(photo: Image.Image) -> torch.Tensor:
    """The photo stylized in fp32 with the same (lowered) thresholds."""
    return stylebank.load(device="cpu").stylize(to_tensor(photo), style=THIRD, precision="fp32")


@pytest.mark.parametrize("amx", [True, False])
@pytest.mark.parametrize("count", [1, 4])
def test_the_command_line_stylizes_large_photos_on_the_auto_backend(large, monkeypatch, tmp_path, amx, count):
    machine(monkeypatch, amx)
    folder = tmp_path / "in"
    folder.mkdir()
    photos = [smooth_image(i, SIZE[1], SIZE[0]) for i in range(count)]
    for i, photo in enumerate(photos):
        photo.save(folder / f"p{i}.png")
    out = tmp_path / "out"
    assert main(["stylize", str(folder), "-s", THIRD, "--max-size", "0", "-o", str(out), "--backend", "auto"]) == 0
    written_files = sorted(out.iterdir())
    assert len(written_files) == count
    for photo, path in zip(photos, written_files):
        with Image.open(path) as written:
            assert written.size == SIZE
            assert psnr(to_tensor(written), reference(photo)) > 30  # bf16 or fp32, the same picture


@pytest.mark.parametrize("amx", [True, False])
def test_the_studios_full_size_download_of_a_large_photo(large, monkeypatch, amx):
    machine(monkeypatch, amx)
    model = stylebank.backends.auto.load_stylizer(backend="auto", device="cpu", images=100)  # as serve opens it
    photo = smooth_image(3, SIZE[1], SIZE[0])
    with TestClient(create_app(model, ServerLimits(max_upload_bytes=10**6, max_pixels=10**6))) as client:
        answer = client.post("/api/stylize", files={"image": ("p.png", png_bytes(photo))},
                             data={"style": THIRD, "max_size": "0"})  # "Download full size"
    assert answer.status_code == 200, answer.text
    with Image.open(io.BytesIO(answer.content)) as picture:
        assert picture.size == SIZE
        assert psnr(to_tensor(picture.convert("RGB")), reference(photo)) > 30
    assert isinstance(model, stylebank.StyleBankModel) == amx  # PyTorch (bf16) with AMX, else ONNX Runtime first
