"""Every bad input of tests/badfiles.py through the command line: one line on stderr that names the file and
the cause, a non-zero exit status, no output file, and nothing in a pickle ever executed."""

import shutil
import warnings

import numpy as np
import pytest
import torch
from badfiles import ARGUMENT_CASES, IMAGE_CASES, MODEL_CASES, evil_pickle
from PIL import Image

import stylebank
from helpers import same_picture
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.images import ImageNote, load_image, save_image
from stylebank.lossnet import load_loss_network


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def bundled_model():
    return stylebank.load(device="cpu")


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.int16)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.name)
def test_images(case, bundled_model, tmp_path, capsys):
    source = case.make(tmp_path)
    out = tmp_path / "out"
    code = main(["stylize", str(source), "-o", str(out), "--device", "cpu", "--precision", "fp32"])
    err = capsys.readouterr().err
    written = sorted(out.iterdir()) if out.exists() else []
    if case.outcome == "ok":
        assert code == 0 and len(written) == 1 and case.message in err, err
        # the picture the Python API gives for the same file, written the same way (same size, same pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImageNote)
            photo = load_image(source)
        expected = save_image(bundled_model.stylize(photo, precision="fp32"), tmp_path / f"api{written[0].suffix}")
        output = pixels(written[0])
        assert output.shape == (photo.height, photo.width, 3) and same_picture(output, pixels(expected))
        if np.asarray(photo).std() > 5:  # a picture in, a picture out (not a blank)
            assert output.std() > 5
    else:
        line = error_line(err)
        assert code == 1 and source.name in line and case.message in line, line
        assert written == []  # not even a temporary file
    assert not (tmp_path / "PWNED").exists()


def test_a_16_bit_photo_gives_the_picture_of_its_8_bit_twin(tmp_path):
    """The 16-bit case holds the greyscale case's picture times 257: scaled to 8 bits they are the same photo,
    so the stylized files must be too (clipped, the 16-bit photo would be almost white)."""
    cases = {case.name: case for case in IMAGE_CASES}
    photos, outputs = [], []
    for name in ("16-bit greyscale PNG", "greyscale (L)"):
        source = cases[name].make(tmp_path)
        out = tmp_path / f"{source.stem}_out.png"
        assert main(["stylize", str(source), "-o", str(out), "--device", "cpu"]) == 0
        photos.append(np.asarray(load_image(source)))
        outputs.append(pixels(out))
    assert np.array_equal(photos[0], photos[1]) and photos[0].std() > 50  # the gradient, black to white
    assert np.array_equal(outputs[0], outputs[1])


def test_exif_orientation_is_respected(tmp_path):
    source = next(c for c in IMAGE_CASES if c.name == "EXIF-rotated JPEG").make(tmp_path)
    assert main(["stylize", str(source), "-o", str(tmp_path / "out.png"), "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "out.png").size == (30, 40)  # stored 40x30, shown rotated


def test_the_pixel_limit_can_be_raised(tmp_path, capsys):
    source = tmp_path / "photo.png"
    Image.new("RGB", (100, 100), "white").save(source)
    assert main(["stylize", str(source), "-o", str(tmp_path / "a.png"), "--max-pixels", "5000"]) == 1
    assert "above the limit" in error_line(capsys.readouterr().err)
    assert main(["stylize", str(source), "-o", str(tmp_path / "b.png"), "--max-pixels", "0"]) == 0


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    return shutil.copy(stylebank.default_model_path(), folder / "good.safetensors")


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda case: case.name)
def test_model_files(case, good_model, tmp_path, capsys):
    path = case.make(tmp_path, good_model)
    assert main(["info", str(path)]) == 1
    line = error_line(capsys.readouterr().err)
    assert path.name in line and case.message in line, line
    out = tmp_path / "out.png"
    assert main(["stylize", "builtin:coffee", "-m", str(path), "-o", str(out)]) == 1
    assert case.message in error_line(capsys.readouterr().err) and not out.exists()
    with pytest.raises(StyleBankError, match=case.message):
        stylebank.load(path)
    assert not (tmp_path / "PWNED").exists()


def test_a_pickled_loss_network_is_refused_unexecuted(tmp_path):
    for name in ("vgg.pth", "vgg.pt"):
        path = evil_pickle(name)(tmp_path)
        with pytest.raises(StyleBankError, match="refused"):
            load_loss_network(str(path))
    assert not (tmp_path / "PWNED").exists()


def test_outputs_are_never_overwritten_by_accident(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), "white").save(photo)
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    assert main(["stylize", str(photo), "-o", str(existing)]) == 1
    assert "--overwrite" in error_line(capsys.readouterr().err) and existing.read_bytes() == b"keep me"
    assert main(["stylize", str(photo), "-o", str(existing), "--overwrite"]) == 0
    assert Image.open(existing).size == (32, 32)
    before = photo.read_bytes()
    assert main(["stylize", str(photo), "-o", str(photo), "--overwrite"]) == 1  # never the input
    assert "input" in error_line(capsys.readouterr().err) and photo.read_bytes() == before


def test_the_pickle_payload_really_would_run(tmp_path):
    """The tests above mean something only if unpickling this file does create the marker."""
    import pickle

    pickle.loads(evil_pickle("evil.pkl")(tmp_path).read_bytes())
    assert (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("arguments, status, message", ARGUMENT_CASES, ids=lambda value: str(value))
def test_malformed_command_line_values(arguments, status, message, tmp_path, capsys):
    out = tmp_path / "out.png"
    if status == 2:  # argparse's usage errors exit
        with pytest.raises(SystemExit) as stopped:
            main(["stylize", "builtin:coffee", "-o", str(out), *arguments])
        code = stopped.value.code
    else:
        code = main(["stylize", "builtin:coffee", "-o", str(out), *arguments])
    line = error_line(capsys.readouterr().err)
    assert code == status and message in line and not out.exists(), line


def test_a_safetensors_header_that_starts_like_a_pickle_still_loads(tmp_path):
    """A header length of 128 + 256k makes the file's first byte 0x80, a pickle's first byte."""
    import json

    from safetensors.torch import save_file

    from stylebank.checkpoint import METADATA_KEY, read_info

    path = tmp_path / "lookalike.safetensors"
    info = {"format": "stylebank-style", "format_version": 1, "name": "x"}
    for padding in range(400):
        info["pad"] = "x" * padding
        save_file({"t": torch.zeros(1)}, str(path), metadata={METADATA_KEY: json.dumps(info)})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    assert read_info(path, "stylebank-style")["name"] == "x"
