"""The auto backend (backends.load_stylizer): ONNX Runtime without PyTorch where it can, PyTorch where it cannot."""

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import stylebank
import stylebank.backends.export
from stylebank.backends.auto import BackendNote, FallbackStylizer, load_stylizer
from stylebank.cli import main
from stylebank.formats import default_model_path
from stylebank.backends.onnx_runtime import GRAPH_VERSION, OnnxModel, cache_path_for, model_file_key
from bundled import THIRD

NO_TORCH = """
import sys
sys.modules["torch"] = None  # any import of torch fails
from stylebank.cli import main
code = main(sys.argv[1:])
assert "torch" not in [name.split(".")[0] for name in sys.modules if sys.modules[name] is not None]
sys.exit(code)
"""


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (44, 60, 3), np.uint8)).save(path)
    return path


def test_the_bundled_export_is_the_bundled_model():
    """The ONNX file shipped beside the bundled model was exported from its weights (re-export after training:
    stylebank export --overwrite -o src/stylebank/models/default.onnx)."""
    shipped = OnnxModel(default_model_path().with_suffix(".onnx"))
    assert shipped.has_regions and shipped.graph_version == GRAPH_VERSION
    assert shipped.weights_key == model_file_key(default_model_path(), shipped.styles)


def test_stylize_runs_without_torch_and_paints_what_torch_paints(photo, tmp_path):
    fast, slow = tmp_path / "fast.png", tmp_path / "slow.png"
    run = subprocess.run([sys.executable, "-c", NO_TORCH, "stylize", str(photo), "-s", THIRD, "--strength", "0.7",
                          "--preserve-color", "-o", str(fast), "--backend", "auto"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "note" not in run.stderr  # nothing fell back
    assert main(["stylize", str(photo), "-s", THIRD, "--strength", "0.7", "--preserve-color", "-o", str(slow),
                 "--backend", "torch", "--precision", "fp32"]) == 0
    difference = np.abs(np.asarray(Image.open(fast), np.int16) - np.asarray(Image.open(slow), np.int16))
    assert difference.max() <= 1


def test_what_onnx_runtime_cannot_do_goes_to_torch_said_once(photo):
    stylizer = load_stylizer(backend="auto", device="cpu")
    assert isinstance(stylizer, FallbackStylizer)
    image = Image.open(photo)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = stylizer.stylize(image, style=2)
        assert stylizer._torch is None and not caught  # ONNX Runtime painted it
        tiled = [stylizer.stylize(image, style=2, tile=32) for _ in range(2)]
    notes = [str(w.message) for w in caught if issubclass(w.category, BackendNote)]
    assert notes == ["tiles (--tile) need the PyTorch backend: stylizing with the PyTorch backend"]
    expected = stylebank.load(None, "cpu").stylize(image, style=2, tile=32)
    assert all(np.array_equal(np.asarray(t), np.asarray(expected)) for t in tiled)
    assert np.abs(np.asarray(plain, np.int16) - np.asarray(tiled[0], np.int16)).mean() < 8  # the same picture


def test_a_model_without_an_export_is_exported_once_into_the_cache(tmp_path, monkeypatch):
    model = tmp_path / "model.safetensors"
    shutil.copy(default_model_path(), model)
    exports = []

    def export_onnx(net, styles, path, source=None):  # a copy of the shipped export: an export takes ~15 s
        exports.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return shutil.copy(default_model_path().with_suffix(".onnx"), path)
    monkeypatch.setattr(stylebank.backends.export, "export_onnx", export_onnx)
    with pytest.warns(BackendNote, match="exporting model.safetensors for ONNX Runtime once"):
        first = load_stylizer(model, "auto", "cpu")
    again = load_stylizer(model, "auto", "cpu")
    key = model_file_key(model, first.styles)
    assert exports == [cache_path_for(key)] and first.fast.path == again.fast.path == cache_path_for(key)


def test_a_stale_export_beside_a_model_is_passed_over(tmp_path, monkeypatch):
    """An ONNX file beside the model whose weights are not the model's (it was retrained) is not used."""
    model = tmp_path / "model.safetensors"
    shutil.copy(default_model_path(), model)
    stale = tmp_path / "model.onnx"
    shutil.copy(default_model_path().with_suffix(".onnx"), stale)
    assert load_stylizer(model, "onnxruntime").path == stale  # the same weights: taken
    monkeypatch.setattr("stylebank.backends.auto.model_file_key", lambda path, styles: "0" * 64)  # weights changed
    monkeypatch.setattr(stylebank.backends.export, "export_onnx", lambda net, styles, path, source=None: pytest.fail("x"))
    with pytest.warns(BackendNote, match="exporting"), pytest.raises(pytest.fail.Exception):
        load_stylizer(model, "onnxruntime")  # not found: it would export


def test_an_unknown_backend_is_refused():
    with pytest.raises(stylebank.StyleBankError, match="unknown backend 'tpu'"):
        load_stylizer(backend="tpu")


@pytest.mark.parametrize("amx", [True, False])
def test_many_images_go_to_torch_on_a_cpu_with_amx(amx, monkeypatch):
    """A folder, a video or a server (many images) runs PyTorch's bf16 network where the CPU has AMX; a single
    photo, or any number where it has not, runs on ONNX Runtime without importing PyTorch."""
    monkeypatch.setattr(stylebank.backends.auto, "cpu_has_amx", lambda: amx)
    monkeypatch.setattr(stylebank.backends.auto, "accelerator_present", lambda: False)
    assert isinstance(load_stylizer(images=1), FallbackStylizer)
    many = load_stylizer(images=stylebank.backends.auto.TORCH_FROM_IMAGES)
    assert isinstance(many, stylebank.StyleBankModel) == amx
    assert isinstance(load_stylizer(backend="onnxruntime", images=1000), OnnxModel)  # as asked


def test_amx_is_read_from_the_cpu_flags(tmp_path, monkeypatch):
    import stylebank.runtime

    for flags, expected in (("fpu avx512f avx512_bf16 amx_bf16 amx_tile", True), ("fpu avx512f avx512_bf16", False)):
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: {flags}\n")
        monkeypatch.setattr(stylebank.runtime, "CPUINFO", str(cpuinfo))
        assert stylebank.runtime.cpu_has_amx() == expected
    monkeypatch.setattr(stylebank.runtime, "CPUINFO", str(tmp_path / "none"))
    assert not stylebank.runtime.cpu_has_amx()


def test_info_and_help_run_without_torch():
    """`stylebank info` reads a model's header (names, shapes, metadata): what it says is what the loaded model
    says, and it needs no PyTorch (nor does --help)."""
    run = subprocess.run([sys.executable, "-c", NO_TORCH, "info", "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    model = stylebank.load(None, "cpu")
    assert summary["parameters"] == model.parameter_counts and summary["styles"] == model.styles
    assert [image["stored"] for image in summary["style_images"]] == [list(p.shape[1:]) for p in model.style_pixels]
    assert subprocess.run([sys.executable, "-c", NO_TORCH, "--help"], capture_output=True).returncode == 0


def test_where_a_gpu_may_be_the_auto_backend_is_pytorch_unless_told_cpu(monkeypatch):
    monkeypatch.setattr(stylebank.backends.auto, "accelerator_present", lambda: True)
    monkeypatch.setattr(stylebank.backends.auto, "cpu_has_amx", lambda: False)
    assert isinstance(load_stylizer(images=1), stylebank.StyleBankModel)  # device auto: the GPU, if torch finds one
    assert isinstance(load_stylizer(device="cpu", images=1), FallbackStylizer)  # the user chose the CPU


def test_onnx_runtime_refuses_bf16_and_a_region_count_that_does_not_match(photo, capsys):
    stylizer = load_stylizer(backend="onnxruntime")
    image = Image.open(photo)
    with pytest.raises(stylebank.StyleBankError, match="computes in fp32; use --precision fp32 or auto"):
        stylizer.stylize(image, style=1, precision="bf16")
    labels = np.zeros((44, 60), np.uint8)
    labels[:, 30:] = 1
    with pytest.raises(stylebank.StyleBankError, match="2 regions but 3 region styles"):
        stylizer.stylize(image, style="0,1,2", mask=labels)
    painted = np.asarray(stylizer.stylize(image, style="0,3", mask=labels), np.int16)
    expected = np.asarray(stylebank.load(None, "cpu").stylize(image, style="0,3", mask=labels, precision="fp32"),
                          np.int16)
    assert np.abs(painted - expected).max() <= 2
    assert main(["stylize", str(photo), "-s", "1", "--backend", "onnxruntime", "--precision", "bf16",
                 "-o", str(photo.with_name("out.png"))]) == 1
    assert "computes in fp32" in capsys.readouterr().err and not photo.with_name("out.png").exists()


def test_without_onnxruntime_the_auto_backend_says_so_and_uses_pytorch(photo, monkeypatch):
    real_find_spec = stylebank.backends.auto.importlib.util.find_spec
    monkeypatch.setattr(stylebank.backends.auto.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stylizer = load_stylizer(backend="auto", device="cpu")
    assert isinstance(stylizer, stylebank.StyleBankModel) and stylizer.path == stylebank.load(device="cpu").path
    notes = [str(w.message) for w in caught if issubclass(w.category, BackendNote)]
    assert notes == ["onnxruntime cannot be imported here (pip install onnxruntime); stylizing with the PyTorch "
                     "backend"]
    image = Image.open(photo)
    assert np.array_equal(np.asarray(stylizer.stylize(image, style=1)),
                          np.asarray(stylebank.load(None, "cpu").stylize(image, style=1)))


def test_the_studio_serves_onnx_runtime_without_torch(photo):
    """A studio on ONNX Runtime starts and stylizes without PyTorch (it is imported only to learn an added style)."""
    script = f"""
import sys
sys.modules["torch"] = None
from starlette.testclient import TestClient
from stylebank.backends.auto import load_stylizer
from stylebank.web.app import create_app
with TestClient(create_app(load_stylizer(backend="onnxruntime"))) as client:
    assert len(client.get("/api/styles").json()["styles"]) >= 2
    answer = client.post("/api/stylize", files={{"image": open({str(photo)!r}, "rb").read()}}, data={{"style": "1"}})
    assert answer.status_code == 200, answer.text
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]


def test_video_on_onnx_runtime_stylizes_two_frames_at_once_as_one_at_a_time(tmp_path, capsys):
    """The video command opens ONNX Runtime for two frames side by side, each on its share of the cores: the
    pictures are those of one frame at a time, and the report says how it ran."""
    from stylebank.video.clips import make_frames, write_clip
    from stylebank.video.pipeline import stylize_frames

    from stylebank.backends.stylizer import StylizeOptions

    frames = make_frames("pan", 6, (96, 64))
    side_by_side = load_stylizer(backend="auto", device="cpu", concurrent_calls=2)
    assert isinstance(side_by_side, FallbackStylizer) and side_by_side.concurrent_calls == 2
    # what goes to PyTorch goes one frame at a time, on every core
    assert side_by_side.calls_at_once(StylizeOptions(2), (64, 96)) == 2
    assert side_by_side.calls_at_once(StylizeOptions(2), (64, 96), carry=True) == 1
    assert side_by_side.calls_at_once(StylizeOptions(2, precision="bf16"), (64, 96)) == 1
    one_at_a_time = load_stylizer(backend="onnxruntime", device="cpu")
    assert one_at_a_time.concurrent_calls == 1
    paired = list(stylize_frames(side_by_side, frames, style=2))
    single = list(stylize_frames(one_at_a_time, frames, style=2))
    assert max(np.abs(a.astype(np.int16) - b).max() for a, b in zip(paired, single)) <= 1
    clip = write_clip(tmp_path / "clip.mp4", frames)
    assert main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--backend", "auto", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames_at_once"] == 2 and report["frames"] == 6
    assert list(report["milliseconds_per_frame"]) == ["decode", "flow", "steady input", "stylize", "blend", "encode"]
    assert main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--backend", "auto", "--json", "--overwrite",
                 "--coherence", "features"]) == 0
    assert json.loads(capsys.readouterr().out)["frames_at_once"] == 1
