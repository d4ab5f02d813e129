"""The fast paths give the plain path's images: tiles, bf16, ONNX Runtime (timings are in benchmarks/, not here)."""

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
import stylebank.backends.pytorch
import stylebank.backends.tiling
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.model import StyleBankNet
from stylebank.images import load_image
from stylebank.tensors import resize_to_fit, to_tensor
from stylebank.metrics import image_psnr as psnr
from bundled import THIRD


@pytest.fixture(scope="module")
def model():
    return stylebank.load(device="cpu")


@pytest.fixture(scope="module")
def photo():
    return resize_to_fit(to_tensor(load_image("builtin:coffee")), 150)  # 150x100


def recorded_parts(model, monkeypatch) -> list[tuple[int, int]]:
    """The (height, width) of every part of the image the network is run on, from now until the test ends."""
    parts = []
    real = StyleBankNet.fuse  # the model may run a copy of its network (model.cpu_network)
    monkeypatch.setattr(StyleBankNet, "fuse", lambda net, images, *a, **k: parts.append(tuple(images.shape[-2:]))
                        or real(net, images, *a, **k))
    return parts


def assert_several_tiles(parts: list[tuple[int, int]], size: tuple[int, int]) -> None:
    """The first call records the statistics on the whole (here unshrunk) image; then come the tiles, each
    smaller than the image, together covering it."""
    assert parts[0] == size and len(parts) >= 4, parts
    tiles = parts[1:]
    assert all(h < size[0] or w < size[1] for h, w in tiles), tiles
    assert max(h for h, _ in tiles) < size[0] and max(w for _, w in tiles) < size[1], tiles


def test_tiles_match_the_whole_image(model, photo, monkeypatch):
    whole = model.stylize(photo, style="0:0.3,2:0.7", strength=0.8, precision="fp32", tile=0)
    parts = recorded_parts(model, monkeypatch)
    tiled = model.stylize(photo, style="0:0.3,2:0.7", strength=0.8, precision="fp32", tile=32)
    assert_several_tiles(parts, tuple(photo.shape[-2:]))
    assert (tiled - whole).abs().max() < 1e-5


def test_tiles_match_with_regions(model, photo):
    labels = np.zeros(photo.shape[-2:], np.uint8)
    labels[:, 70:] = 1
    whole = model.stylize(photo, style="1,3", mask=labels, precision="fp32", tile=0)
    tiled = model.stylize(photo, style="1,3", mask=labels, precision="fp32", tile=40)
    assert (tiled - whole).abs().max() < 1e-5


def test_large_images_are_tiled_automatically(model, photo, monkeypatch):
    whole = model.stylize(photo, style=1, precision="fp32", tile=0)
    monkeypatch.setattr(stylebank.backends.pytorch, "TILE_PIXELS", 64 * 64)  # the 150x100 photo is now "large"
    monkeypatch.setattr(stylebank.backends.pytorch, "DEFAULT_TILE", 48)  # and bigger than one default tile
    parts = recorded_parts(model, monkeypatch)
    tiled = model.stylize(photo, style=1, precision="fp32")
    assert_several_tiles(parts, tuple(photo.shape[-2:]))
    assert (tiled - whole).abs().max() < 1e-5
    parts.clear()  # tile=0 still never tiles, however large the image
    assert torch.equal(model.stylize(photo, style=1, precision="fp32", tile=0), whole) and len(parts) == 1


def test_statistics_from_a_shrunk_image_stay_close(model, monkeypatch):
    photo = resize_to_fit(to_tensor(load_image("builtin:astronaut")), 256)
    whole = model.stylize(photo, style=2, precision="fp32", tile=0)
    monkeypatch.setattr(stylebank.backends.tiling, "STATS_PIXELS", 128 * 128)  # statistics from a quarter of the pixels
    # a global tone shift only (about 28 dB here); tiles normalised on their own would give about 14 dB
    assert psnr(model.stylize(photo, style=2, precision="fp32", tile=64), whole) > 25


def test_images_above_the_statistics_size_stylize_in_each_precision(model, photo, monkeypatch):
    """Above STATS_PIXELS the statistics come from a shrunk copy of the image, shrunk in the compute dtype: in
    bf16 PyTorch has no antialiased kernel (a phone photo once crashed with NotImplementedError, issue 27)."""
    whole = model.stylize(photo, style=1, precision="fp32", tile=0)
    monkeypatch.setattr(stylebank.backends.tiling, "STATS_PIXELS", 64 * 64)  # the 150x100 photo is above it
    tiled = {precision: model.stylize(photo, style=1, precision=precision, tile=48) for precision in ("fp32", "bf16")}
    assert all(t.dtype == whole.dtype and t.shape == whole.shape for t in tiled.values())
    assert psnr(tiled["fp32"], whole) > 20  # statistics from a copy of half the size: close, not equal
    assert psnr(tiled["bf16"], tiled["fp32"]) > 30


def test_regions_on_images_above_the_statistics_size(model, photo, monkeypatch):
    """The statistics pass runs on a shrunk copy of the image, with the masks shrunk to it (a photo above 4 MP with
    regions once failed on the masks' size)."""
    labels = np.zeros(photo.shape[-2:], np.uint8)
    labels[:, 72:] = 1
    whole = model.stylize(photo, style="1,3", mask=labels, precision="fp32", tile=0)
    monkeypatch.setattr(stylebank.backends.tiling, "STATS_PIXELS", 64 * 64)
    tiled = model.stylize(photo, style="1,3", mask=labels, precision="fp32", tile=48)
    assert psnr(tiled, whole) > 20


def test_antialiased_resize_keeps_the_dtype_and_matches_float32():
    from stylebank.tensors import antialiased_resize

    image = torch.rand(1, 3, 40, 60, generator=torch.Generator().manual_seed(0))
    exact = antialiased_resize(image, (20, 30))
    for dtype in (torch.bfloat16, torch.float16):
        low = antialiased_resize(image.to(dtype), (20, 30))
        assert low.dtype == dtype and low.shape == exact.shape
        assert (low.float() - exact).abs().max() < 0.01
    assert antialiased_resize(image, scale_factor=0.5).shape[-2:] == (20, 30)


def test_bf16_stays_close_to_fp32(model, photo):
    exact = model.stylize(photo, style=0, precision="fp32")
    assert psnr(model.stylize(photo, style=0, precision="bf16"), exact) >= 35


def test_the_cpu_runs_a_channels_last_copy_in_the_precision_made_again_when_the_weights_change(model, photo):
    """On a CPU the model stylizes with a copy of its network in the compute dtype, channels-last (bf16 whole,
    not autocast); the copy follows the model's weights: edited, the model paints with the new ones."""
    before = model.stylize(photo, style=1, precision="fp32")
    network = model.cpu_network(torch.bfloat16)
    weight = network.bank[1][1].weight
    assert weight.dtype == torch.bfloat16 and weight.is_contiguous(memory_format=torch.channels_last)
    assert model.cpu_network(torch.bfloat16) is network  # made once
    trained = model.net.bank[1][1].weight.detach().clone()
    try:
        with torch.no_grad():  # in place, as an optimizer step changes it
            model.net.bank[1][1].weight.copy_(torch.flip(trained, dims=(0,)))
        assert model.cpu_network(torch.bfloat16) is not network
        assert psnr(model.stylize(photo, style=1, precision="fp32"), before) < 30
    finally:
        with torch.no_grad():
            model.net.bank[1][1].weight.copy_(trained)
    assert torch.equal(model.stylize(photo, style=1, precision="fp32"), before)


def fast_bf16_cpu(monkeypatch, avx512_bf16: bool = True, amx: bool = False) -> None:
    """Pretend this CPU has (or lacks) the units that run bf16 natively."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)


def test_auto_precision_is_fp32_without_fast_bf16(photo, monkeypatch):
    fast_bf16_cpu(monkeypatch, avx512_bf16=False, amx=False)
    plain = stylebank.load(device="cpu")
    assert torch.equal(plain.stylize(photo, precision="auto"), plain.stylize(photo, precision="fp32"))
    assert plain.compute_dtype("auto") == torch.float32
    with pytest.raises(StyleBankError, match="precision must be one of"):
        plain.stylize(photo, precision="fp16")


def probe_scores(monkeypatch, score=None) -> list[float]:
    """The PSNRs of bf16 against fp32 that precision="auto" measures on its probe (replaced by ``score`` if given)."""
    scores = []
    real = stylebank.backends.pytorch.image_psnr

    def measured(fast: torch.Tensor, exact: torch.Tensor) -> float:
        scores.append(real(fast, exact) if score is None else score)
        return scores[-1]

    monkeypatch.setattr(stylebank.backends.pytorch, "image_psnr", measured)
    return scores


def test_auto_precision_takes_bf16_for_the_bundled_model_on_a_fast_bf16_cpu(monkeypatch):
    fast_bf16_cpu(monkeypatch)
    scores = probe_scores(monkeypatch)
    assert stylebank.load(device="cpu").compute_dtype("auto") == torch.bfloat16
    assert len(scores) == 1 and stylebank.backends.pytorch.AUTO_BF16_MIN_PSNR <= scores[0] < float("inf")  # passed the gate


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A narrow random network: its bf16 probe takes a second where the bundled model's takes several."""
    from stylebank.checkpoint import save_model
    from stylebank.model import NetworkConfig, StyleBankNet

    torch.manual_seed(0)
    net = StyleBankNet(2, NetworkConfig(channels=(4, 8, 8)))
    return save_model(tmp_path_factory.mktemp("small") / "small.safetensors", net, ["a", "b"], "random:0", {})


def test_auto_precision_gate_is_the_probe_psnr(small_model, monkeypatch):
    fast_bf16_cpu(monkeypatch)
    scores = probe_scores(monkeypatch)
    monkeypatch.setattr(stylebank.backends.pytorch, "AUTO_BF16_MIN_PSNR", 0.0)
    assert stylebank.load(small_model, "cpu").compute_dtype("auto") == torch.bfloat16
    score = scores[0]
    # the same probe against a gate just above its score: fp32; exactly at its score: bf16
    monkeypatch.setattr(stylebank.backends.pytorch, "AUTO_BF16_MIN_PSNR", score + 0.01)
    assert stylebank.load(small_model, "cpu").compute_dtype("auto") == torch.float32
    monkeypatch.setattr(stylebank.backends.pytorch, "AUTO_BF16_MIN_PSNR", score)
    assert stylebank.load(small_model, "cpu").compute_dtype("auto") == torch.bfloat16
    assert scores == [score] * 3  # one probe per model, the same each time


def test_auto_precision_falls_back_to_fp32_when_bf16_is_far_from_fp32(small_model, photo, monkeypatch):
    fast_bf16_cpu(monkeypatch)
    gate = stylebank.backends.pytorch.AUTO_BF16_MIN_PSNR
    scores = probe_scores(monkeypatch, score=gate - 0.5)  # a model whose bf16 output strays from fp32's
    model = stylebank.load(small_model, "cpu")
    auto = model.stylize(photo, style=1, precision="auto")
    assert scores == [gate - 0.5] and model.compute_dtype("auto") == torch.float32
    assert torch.equal(auto, model.stylize(photo, style=1, precision="fp32"))
    assert not torch.equal(auto, model.stylize(photo, style=1, precision="bf16"))


@pytest.mark.parametrize("avx512_bf16, amx", [(False, False), (True, False), (False, True), (True, True)])
def test_fast_bf16_on_cpus_follows_the_cpu_features(avx512_bf16, amx, monkeypatch):
    from stylebank.runtime import has_fast_bf16

    fast_bf16_cpu(monkeypatch, avx512_bf16, amx)
    assert has_fast_bf16(torch.device("cpu")) == (avx512_bf16 or amx)


@pytest.mark.parametrize("supported", [False, True])
def test_fast_bf16_on_gpus_asks_cuda_and_nothing_else_is_fast(supported, monkeypatch):
    from stylebank.runtime import has_fast_bf16

    # a GPU that supports bf16 natively or only by emulation (pre-Ampere: slower than fp32, so not "fast")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: supported or including_emulation)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert has_fast_bf16(torch.device("cuda")) == supported and has_fast_bf16(torch.device("cuda:0")) == supported
    assert not has_fast_bf16(torch.device("mps")) and not has_fast_bf16(torch.device("meta"))


@pytest.fixture(scope="session")
def onnx_file(tmp_path_factory):
    """The bundled model exported by the export command, once per session (an export takes ~20 s)."""
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    assert main(["export", "-o", str(path)]) == 0 and path.stat().st_size
    return path


@pytest.mark.slow
def test_the_export_writes_one_file_as_other_outputs_are_written(onnx_file):
    """No side file of the exporter's (its weights, .data) is left beside the export, and the file is readable as
    the umask says, like every other output (the exporter's temporary file was 0600)."""
    assert [p.name for p in onnx_file.parent.iterdir()] == ["model.onnx"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(onnx_file.stat().st_mode) == 0o666 & ~umask


@pytest.mark.slow
def test_onnx_runtime_matches_pytorch(model, onnx_file):
    runner = stylebank.load_stylizer(onnx_file)
    assert runner.styles == model.styles
    odd = torch.rand(1, 3, 37, 61, generator=torch.Generator().manual_seed(0))
    for style, strength in ((0, 1.0), ("1:0.25,3:0.75", 1.0), (THIRD, 0.4), (THIRD, 0.0)):
        expected = model.stylize(odd, style=style, strength=strength, precision="fp32")
        assert (runner.stylize(odd, style=style, strength=strength) - expected).abs().max() <= 1e-3
    # regions, found or given
    for mask, styles, strength in (("kmeans:3", "0,1:0.5,3:0.5", 1.0),
                                   (np.arange(37 * 61).reshape(37, 61) % 3 == 0, "2,3", 0.6)):
        expected = model.stylize(odd, style=styles, mask=mask, strength=strength, precision="fp32")
        assert (runner.stylize(odd, style=styles, mask=mask, strength=strength) - expected).abs().max() <= 1e-3
    with pytest.raises(StyleBankError, match="PyTorch backend"):
        runner.stylize(odd, tile=16)


@pytest.mark.slow
def test_onnx_from_the_command_line(model, onnx_file, tmp_path, monkeypatch):
    import stylebank.backends.export

    # --backend onnxruntime exports the model into its (here empty) cache on the first run and finds it there on
    # the next; the export itself is a copy of the session's (made by the export command: ~20 s an export)
    exports = []

    def export_onnx(net, styles, path, source=None):
        exports.append(Path(path))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(onnx_file, path))
    monkeypatch.setattr(stylebank.backends.export, "export_onnx", export_onnx)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)).save(photo)
    bare = Path(shutil.copy(model.path, tmp_path / "bare.safetensors"))  # the bundled model ships an export
    outputs = {}
    for name, extra in (("torch", ["--precision", "fp32"]), ("file", ["-m", str(onnx_file), "--backend", "auto"]),
                        ("cached", ["-m", str(bare), "--backend", "onnxruntime"]),
                        ("again", ["-m", str(bare), "--backend", "onnxruntime"])):
        outputs[name] = tmp_path / f"{name}.png"
        assert main(["stylize", str(photo), "-s", "1", "-o", str(outputs[name]), *extra]) == 0
    assert exports == [stylebank.backends.export.onnx_cache_path(model.net, model.styles)]  # on the first run only
    pixels = {name: np.asarray(Image.open(path), np.int16) for name, path in outputs.items()}
    assert np.abs(pixels["file"] - pixels["torch"]).max() <= 1 and np.array_equal(pixels["file"], pixels["cached"])
    assert np.array_equal(pixels["cached"], pixels["again"])


def test_a_bad_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(StyleBankError, match="not a stylebank ONNX model"):
        stylebank.load_stylizer(bad)


def test_deep_banks_cannot_be_exported_to_onnx(tmp_path):
    from stylebank.checkpoint import save_model
    from stylebank.model import NetworkConfig, StyleBankNet

    path = save_model(tmp_path / "deep.safetensors", StyleBankNet(2, NetworkConfig(bank_depth=2)), ["a", "b"],
                      "random:0", {})
    with pytest.raises(StyleBankError, match="one-conv style banks"):
        stylebank.load(path, "cpu").export_onnx(tmp_path / "deep.onnx")
    assert not (tmp_path / "deep.onnx").exists()
