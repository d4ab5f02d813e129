import json
import signal
import struct
import subprocess
import sys

import pytest
from helpers import copy_of, unchanged
from PIL import Image

import stylebank
from stylebank import images
from stylebank.cli import main
from stylebank.checkpoint import METADATA_KEY
from stylebank.errors import StyleBankError
from stylebank.images import load_image
from bundled import FIRST


@pytest.fixture(scope="session")
def trained_once(shared_tiny_data, tmp_path_factory):
    """A tiny model trained by the train command, once per session (its checkpoint, log and samples beside it)."""
    data = shared_tiny_data
    model = tmp_path_factory.mktemp("trained") / "tiny.safetensors"
    code = main(["train", "--content", str(data["content"]), "--style", *map(str, data["styles"]),
                 "-o", str(model), "--image-size", "32", "--style-size", "32", "--iterations", "4",
                 "--batch-size", "2", "--vgg", "random", "--warmup", "0", "--device", "cpu", "--quiet",
                 "--preview", str(data["content"] / "photo0.png")])
    assert code == 0
    with unchanged(model.parent):
        yield model


@pytest.fixture
def trained(trained_once, tmp_path):
    """This test's own copy of the trained model and its files (a resume writes to them)."""
    return copy_of(trained_once, tmp_path)


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
    assert (p["encoder"], p["decoder"], p["per_style"]) == (100_608, 100_227 + 448, 147_584)  # "carry" layout
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


def test_stylize_max_size_shrinks_and_says_so(trained, tiny_data, tmp_path, capsys):
    out = tmp_path / "small.png"
    assert main(["stylize", str(tiny_data["content"] / "photo0.png"), "-m", str(trained), "-o", str(out),
                 "--max-size", "26"]) == 0
    assert Image.open(out).size == (26, 20)
    assert "photo0.png is 52x40; stylized at 26x20 (--max-size 26; --max-size 0 keeps" in capsys.readouterr().err
    assert main(["stylize", str(tiny_data["content"] / "photo0.png"), "-m", str(trained), "-o", str(out),
                 "--overwrite"]) == 0  # the default 1024 leaves it as it is, without a word
    assert Image.open(out).size == (52, 40) and capsys.readouterr().err == ""


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


def test_the_same_command_with_resume_starts_a_run_that_wrote_no_checkpoint(shared_tiny_data, tmp_path, capsys):
    """A job killed during start-up, or requeued, reruns its command line with --resume: it starts over."""
    data, model = shared_tiny_data, tmp_path / "requeued.safetensors"
    command = ["train", "-o", str(model), "--resume", "--quiet"]
    assert main(command) == 1
    assert "nothing to resume: " in capsys.readouterr().err and not model.exists()
    command += ["--content", str(data["content"]), "--style", str(data["styles"][0]), "--image-size", "32",
                "--style-size", "32", "--iterations", "2", "--batch-size", "2", "--vgg", "random", "--warmup", "0",
                "--device", "cpu", "--preview", str(data["content"] / "photo0.png")]
    assert main(command) == 0
    err = capsys.readouterr().err
    assert "note: nothing to resume yet" in err and "starting from the beginning" in err
    assert stylebank.load(model, "cpu").info["training"]["steps_done"] == 2


def test_resume_keeps_what_the_command_line_does_not_change(trained, capsys):
    assert main(["train", "-o", str(trained), "--resume", "--quiet"]) == 0  # the saved 4 iterations, not the default
    assert stylebank.load(trained, "cpu").info["training"]["steps_done"] == 4
    assert main(["train", "-o", str(trained), "--resume", "--style-weight", "8", "--quiet"]) == 1
    assert "--style-weight cannot change when resuming" in capsys.readouterr().err


def test_stylize_takes_the_sources_train_takes(tiny_data, tmp_path, capsys):
    pattern = str(tiny_data["content"] / "**" / "photo[02].png")  # a glob, recursive: photo0 and nested/photo2
    out = tmp_path / "styled"
    assert main(["stylize", pattern, "-o", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"photo0_{FIRST}.png", f"photo2_{FIRST}.png"]
    missing = tmp_path / "nowhere.png"  # a missing file fails alone; the others are still done
    again = tmp_path / "again"
    assert main(["stylize", str(missing), pattern, "-o", str(again), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "nowhere.png: no such file" in err and "1 of 3 inputs failed" in err and len(list(again.iterdir())) == 2
    assert main(["stylize", str(tiny_data["content"] / "*.gif"), "-o", str(again), "--device", "cpu"]) == 1
    assert "*.gif: no images match" in capsys.readouterr().err


def test_max_pixels_holds_for_its_own_command_only(tmp_path, monkeypatch, capsys):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (100, 100), "white").save(photo)
    assert main(["stylize", str(photo), "-o", str(tmp_path / "a.png"), "--max-pixels", "5000"]) == 1
    assert "above the limit" in capsys.readouterr().err
    assert main(["stylize", str(photo), "-o", str(tmp_path / "a.png")]) == 0  # the next command: the default
    assert load_image(photo).size == (100, 100)  # and the Python API
    monkeypatch.setattr(images, "MAX_PIXELS", 5000)  # a default that refuses the photo...
    assert main(["stylize", str(photo), "-o", str(tmp_path / "b.png"), "--max-pixels", "0"]) == 0  # ...lifted
    with pytest.raises(StyleBankError, match="above the limit"):
        load_image(photo)  # for that command only
    assert main(["stylize", str(photo), "-o", str(tmp_path / "c.png")]) == 1
    assert "above the limit" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["stylize", "PHOTO", "-o", "out.png"],
    ["stylize", "builtin:coffee", "--mask", "PHOTO", "--region-styles", "0", "-o", "out.png"],
    ["sheet", "PHOTO", "-o", "out.png"],
    ["eval", "--content", "PHOTO", "--vgg", "random", "--image-size", "32"],
    ["optimize", "PHOTO", "--style", "builtin:mosaic", "--vgg", "random", "--steps", "1", "-o", "out.png"],
    ["train", "--content", "PHOTO", "--style", "builtin:mosaic", "--vgg", "random", "--iterations", "1",
     "--warmup", "0", "--image-size", "32", "--style-size", "32", "--batch-size", "1", "--quiet",
     "-o", "out.safetensors"],
], ids=lambda command: " ".join(command[:3]))
def test_max_pixels_reaches_every_image_a_command_reads(command, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (100, 100), "white").save(photo)
    arguments = [str(photo) if a == "PHOTO" else str(tmp_path / a) if a.startswith("out.") else a for a in command]
    assert main([*arguments, "--max-pixels", "5000", "--device", "cpu"]) == 1
    assert "above the limit of" in capsys.readouterr().err and not list(tmp_path.glob("out.*"))


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_code:
        main(["--version"])
    assert exit_code.value.code == 0 and capsys.readouterr().out == f"stylebank {stylebank.__version__}\n"


def test_a_reader_that_stops_reading_gets_no_error_message():
    """`stylebank info --json | head -1`: the pipe closes before the output is written; no 'Broken pipe' error."""
    process = subprocess.Popen([sys.executable, "-m", "stylebank", "info", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # long before the child has imported torch and written anything
    error = process.stderr.read().decode()
    assert process.wait() == 128 + signal.SIGPIPE and error == ""


def test_an_onnx_file_where_a_model_belongs_says_what_runs_it(tmp_path, capsys):
    exported = tmp_path / "model.onnx"
    exported.write_bytes(b"\x08\x09\x12\x07pytorch")  # an ONNX protobuf's first bytes: not safetensors
    for command in (["info", str(exported)], ["sheet", "builtin:coffee", "-m", str(exported), "-o",
                                               str(tmp_path / "sheet.png")]):
        assert main(command) == 1
        assert f"an ONNX export; it runs with `stylebank stylize -m {exported}`" in capsys.readouterr().err


def test_export_style_writes_only_safetensors_names(tmp_path, capsys):
    assert main(["export-style", "-s", "waves", "-o", str(tmp_path / "waves.onnx")]) == 1
    assert "a style file is safetensors; name it STYLE.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "waves.onnx").exists()


def test_add_style_help_says_where_its_defaults_come_from(capsys):
    for command, image_size in (("add-style", "128; --quality: the model's own"), ("train", "256")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert f"content crop size (default {image_size})" in text


def test_add_style_and_styles_default_to_the_bundled_model(shared_tiny_data, tmp_path, capsys):
    """Adding one's own style to the bundled model is the first thing people try: no -m needed."""
    data, out = shared_tiny_data, tmp_path / "mine.safetensors"
    assert main(["add-style", "--quality", "--style", str(data["styles"][0]), "-o", str(out), "--content", str(data["content"]),
                 "--vgg", "random", "--iterations", "1", "--image-size", "32", "--style-size", "32",
                 "--batch-size", "1", "--device", "cpu", "--quiet", "--preview", str(data["content"] / "photo0.png")]) == 0
    bundled = stylebank.load(device="cpu")
    assert f"to {stylebank.default_model_path()}" in capsys.readouterr().out
    assert stylebank.load(out, "cpu").styles == bundled.styles + ["zebra"]
    assert main(["styles"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{i}: {name}" for i, name in enumerate(bundled.styles)]
