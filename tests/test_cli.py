import json
import struct

import pytest
from PIL import Image

import stylebank
from stylebank.cli import main
from stylebank.checkpoint import METADATA_KEY


@pytest.fixture
def trained(tiny_data):
    model = tiny_data["root"] / "tiny.safetensors"
    code = main(["train", "--content", str(tiny_data["content"]), "--style", *map(str, tiny_data["styles"]),
                 "-o", str(model), "--image-size", "32", "--style-size", "32", "--iterations", "4",
                 "--batch-size", "2", "--vgg", "random", "--warmup", "0", "--device", "cpu", "--quiet",
                 "--preview", str(tiny_data["content"] / "photo0.png")])
    assert code == 0
    return model


def test_train_writes_a_safetensors_model_with_metadata(trained):
    raw = trained.read_bytes()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])  # a safetensors file: JSON header, no pickle
    info = json.loads(header["__metadata__"][METADATA_KEY])
    assert info["format"] == "stylebank-model" and info["format_version"] == 1
    assert info["styles"] == ["zebra", "blobs"] and info["loss_network"] == "random:0"
    assert info["network"]["bank_depth"] == 1 and info["training"]["steps_done"] == 4
    assert "bank.1.1.weight" in header and "encoder.0.1.weight" in header


def test_info_json_counts_every_parameter(trained, capsys):
    assert main(["info", str(trained), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["styles"] == ["zebra", "blobs"]
    p = info["parameters"]
    assert (p["encoder"], p["decoder"], p["per_style"]) == (100_608, 100_227, 147_584)
    assert p["total"] == p["encoder"] + p["decoder"] + 2 * p["per_style"]
    assert main(["info", str(trained)]) == 0 and "1: blobs" in capsys.readouterr().out


def test_stylize_one_file_by_style_name(trained, tiny_data, tmp_path):
    source = tiny_data["content"] / "nested" / "photo2.png"
    out = tmp_path / "out.jpg"
    assert main(["stylize", str(source), "-m", str(trained), "-s", "blobs", "-o", str(out), "--device", "cpu"]) == 0
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == Image.open(source).size


def test_stylize_a_folder_into_a_folder(trained, tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "styled"
    assert main(["stylize", str(tiny_data["content"]), "-m", str(trained), "-s", "1", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["photo0_blobs.png", "photo1_blobs.png", "photo2_blobs.png"]
    monkeypatch.chdir(tmp_path)  # no -o: STEM_STYLE.png in the current folder
    assert main(["stylize", str(tiny_data["content"] / "photo1.png"), "-m", str(trained)]) == 0
    assert (tmp_path / "photo1_zebra.png").exists()


def test_stylize_max_size_shrinks(trained, tiny_data, tmp_path):
    out = tmp_path / "small.png"
    assert main(["stylize", str(tiny_data["content"] / "photo0.png"), "-m", str(trained), "-o", str(out),
                 "--max-size", "26"]) == 0
    assert max(Image.open(out).size) == 26


def test_errors_are_one_line_without_traceback(trained, tiny_data, tmp_path, capsys):
    assert main(["stylize", str(tiny_data["content"] / "photo0.png"), "-m", str(trained), "-s", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown style 'nope'" in err and "zebra, blobs" in err
    assert main(["info", str(tmp_path / "missing.safetensors")]) == 1
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    good = tiny_data["content"] / "photo0.png"
    assert main(["stylize", str(bad), str(good), "-m", str(trained), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.png: not an image" in err and "1 of 2 inputs failed" in err
    assert (tmp_path / "o" / "photo0_zebra.png").exists() and not (tmp_path / "o" / "bad_zebra.png").exists()
    assert main(["train", "--style", str(good), "-o", str(tmp_path / "m.safetensors")]) == 1
    assert "--content" in capsys.readouterr().err


def test_resume_from_the_command_line(trained):
    assert main(["train", "-o", str(trained), "--resume", "--iterations", "6", "--quiet"]) == 0
    assert stylebank.load(trained, "cpu").info["training"]["steps_done"] == 6


def test_resume_keeps_what_the_command_line_does_not_change(trained, capsys):
    assert main(["train", "-o", str(trained), "--resume", "--quiet"]) == 0  # the saved 4 iterations, not the default
    assert stylebank.load(trained, "cpu").info["training"]["steps_done"] == 4
    assert main(["train", "-o", str(trained), "--resume", "--style-weight", "8", "--quiet"]) == 1
    assert "--style-weight cannot change when resuming" in capsys.readouterr().err
