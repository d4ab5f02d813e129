"""`stylebank stylize` as people use it in batches and pipes: default names that say the settings, reruns that
skip what exists, `-` for standard input and output, one JSON object per run."""

import hashlib
import io
import json
import subprocess
import sys

import numpy as np
from PIL import Image

import stylebank
from helpers import same_picture
from stylebank.cli import main
from bundled import FIRST, SECOND, THIRD, FOURTH

SMALL = ["--max-size", "24", "--precision", "fp32"]  # the bundled model, on small pictures


def photos(folder, count=2):
    """``count`` small photos in ``folder``: a JPEG, then PNGs."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / (f"photo{i}.jpg" if i == 0 else f"photo{i}.png")
        Image.fromarray(rng.integers(0, 256, (20, 28, 3), np.uint8)).save(path)
        paths.append(path)
    return paths


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_default_names_say_the_settings_and_keep_the_input_format(tmp_path, monkeypatch):
    jpeg, png = photos(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    # trying one setting after another writes one file each (it used to fail with "already exists")
    for options in ([], ["--strength", "0.5"], ["--preserve-color"], ["-s", "0:0.5,2:0.5"],
                    ["--regions", "kmeans:2", "--region-styles", "1,3"]):
        assert main(["stylize", str(jpeg), *options, *SMALL]) == 0
    assert sorted(p.name for p in tmp_path.glob("photo0_*")) == sorted([
        f"photo0_{FIRST}.jpg", f"photo0_{FIRST}0.5+{THIRD}0.5.jpg", f"photo0_{FIRST}_preserve-color.jpg",
        f"photo0_{FIRST}_strength0.5.jpg", f"photo0_regions-{SECOND}-{FOURTH}.jpg"])
    assert main(["stylize", str(png), "-s", THIRD, "--strength", "0", "--preserve-color", *SMALL]) == 0
    with Image.open(tmp_path / f"photo1_{THIRD}_strength0_preserve-color.png") as image:
        assert image.format == "PNG"
    with Image.open(tmp_path / f"photo0_{FIRST}.jpg") as image:
        assert image.format == "JPEG"


def test_a_rerun_skips_what_exists_and_is_not_a_failure(tmp_path, capsys):
    inputs = [str(p) for p in photos(tmp_path / "in", 3)]
    out = tmp_path / "out"
    assert main(["stylize", *inputs, "-o", str(out), *SMALL]) == 0
    before = digests(out)
    capsys.readouterr()
    assert main(["stylize", *inputs, "-o", str(out), *SMALL]) == 0
    captured = capsys.readouterr()
    assert "skipped 3 outputs that exist (--overwrite replaces them)" in captured.err and "failed" not in captured.err
    assert captured.out == "" and digests(out) == before
    # a new input beside them is stylized; a missing one is still a failure (exit 1), the skipped ones are not
    extra = photos(tmp_path / "more", 2)[1].rename(tmp_path / "more" / "extra.png")
    assert main(["stylize", *inputs, str(extra), str(tmp_path / "nowhere.png"), "-o", str(out), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "skipped 3 outputs" in err and "1 of 5 inputs failed: " in err and (out / f"extra_{FIRST}.png").exists()
    # one output named by -o is what the user asked for: an existing one is refused, as before
    assert main(["stylize", inputs[0], "-o", str(out / f"photo0_{FIRST}.jpg"), *SMALL]) == 1
    assert "already exists; add --overwrite" in capsys.readouterr().err


def test_standard_input_to_standard_output(tmp_path):
    photo = photos(tmp_path, 2)[1]
    run = subprocess.run([sys.executable, "-c", "import sys; from stylebank.cli import main; sys.exit(main())",
                          "stylize", "-", "-s", THIRD, "-o", "-", *SMALL], input=photo.read_bytes(),
                         capture_output=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert b"standard input -> standard output" in run.stderr  # stdout holds only the picture
    with Image.open(io.BytesIO(run.stdout)) as image:
        assert image.format == "PNG"
        piped = np.asarray(image.convert("RGB"))
    with Image.open(photo) as image:
        expected = stylebank.load(device="cpu").stylize(image.convert("RGB"), THIRD, max_size=24, precision="fp32")
    assert same_picture(piped, expected)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "photo0.jpg", photo]  # nothing written beside them


def test_stdin_errors_and_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["stylize", "-", *SMALL]) == 1
    assert "standard input: nothing to read" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not a picture")))
    assert main(["stylize", "-", *SMALL]) == 1
    assert "error: standard input: not an image" in capsys.readouterr().err
    photo = photos(tmp_path / "in", 1)[0]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(photo.read_bytes())))
    assert main(["stylize", "-", "-s", SECOND, *SMALL]) == 0 and (tmp_path / f"stdin_{SECOND}.png").exists()
    assert main(["stylize", str(photo), str(photo), "-o", "-", *SMALL]) == 1
    assert "-o - writes one image to standard output, but there are 2 inputs" in capsys.readouterr().err
    assert main(["stylize", str(photo), "-o", "-", "--json", *SMALL]) == 1
    assert "--json and -o - both write to standard output" in capsys.readouterr().err


def test_json_reports_the_run(tmp_path, capsys):
    inputs = [str(p) for p in photos(tmp_path / "in", 2)]
    out = tmp_path / "out"
    assert main(["stylize", inputs[0], "-o", str(out), *SMALL]) == 0
    capsys.readouterr()
    missing = str(tmp_path / "nowhere.png")
    assert main(["stylize", *inputs, missing, "-o", str(out), "-s", FOURTH, "--strength", "0.5", "--json",
                 *SMALL]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout holds only the JSON; the per-file lines went to stderr
    assert "->" in captured.err
    assert report["style"] == FOURTH and report["strength"] == 0.5 and report["precision"] == "fp32"
    assert [(i["input"], i["output"]) for i in report["images"]] == [
        (inputs[0], str(out / f"photo0_{FOURTH}_strength0.5.jpg")), (inputs[1], str(out / f"photo1_{FOURTH}_strength0.5.png"))]
    for entry in report["images"]:
        with Image.open(entry["output"]) as image:
            assert entry["output_size"] == list(image.size) == [24, 17]
        assert entry["input_size"] == [28, 20] and entry["seconds"] > 0
    assert report["failures"] == [{"input": missing, "error": f"{missing}: no such file"}]
    # each image's seconds run from its reading to its writing, which overlap other images' work
    assert report["skipped"] == [] and report["seconds"] >= max(i["seconds"] for i in report["images"])
    assert main(["stylize", inputs[0], "-o", str(out), "--json", *SMALL]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == [{"input": inputs[0],
                                                                "output": str(out / f"photo0_{FIRST}.jpg")}]


def test_upper_case_suffixes_are_photos_and_keep_their_format(tmp_path, monkeypatch):
    folder = tmp_path / "camera"
    folder.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (20, 28, 3), np.uint8)).save(folder / "IMG_0001.JPG", format="JPEG")
    Image.fromarray(rng.integers(0, 256, (20, 28, 3), np.uint8)).save(folder / "SCAN.PNG", format="PNG")
    (folder / "notes.TXT").write_text("not a photo")
    monkeypatch.chdir(tmp_path)
    assert main(["stylize", str(folder), "-o", "out", *SMALL]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [f"IMG_0001_{FIRST}.jpg", f"SCAN_{FIRST}.png"], written  # the format kept, its suffix lower-case
    with Image.open(tmp_path / "out" / f"IMG_0001_{FIRST}.jpg") as image:
        assert image.format == "JPEG"


def test_overwrite_replaces_default_named_outputs(tmp_path, capsys):
    inputs = [str(p) for p in photos(tmp_path / "in", 2)]
    out = tmp_path / "out"
    assert main(["stylize", *inputs, "-o", str(out), *SMALL]) == 0
    stale = out / f"photo1_{FIRST}.png"
    Image.new("RGB", (5, 5)).save(stale)  # not what the photo gives
    capsys.readouterr()
    assert main(["stylize", *inputs, "-o", str(out), "--overwrite", *SMALL]) == 0
    assert "skipped" not in capsys.readouterr().err
    with Image.open(stale) as image:
        assert image.size == (24, 17)  # the photo's picture, at --max-size 24


def test_a_corrupt_photo_met_mid_run_is_noted_and_the_rest_are_stylized(tmp_path, capsys):
    inputs = photos(tmp_path / "in", 3)
    inputs[1].write_bytes(inputs[1].read_bytes()[:60])  # cut short: the header reads, the pixels do not
    out = tmp_path / "out"
    assert main(["stylize", *map(str, inputs), "-o", str(out), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 inputs failed" in err and "photo1.png" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == [f"photo0_{FIRST}.jpg", f"photo2_{FIRST}.png"]


def test_a_folder_run_says_the_max_size_note_once_and_counts_the_rest(tmp_path, capsys):
    inputs = [str(p) for p in photos(tmp_path / "in", 3)]
    assert main(["stylize", *inputs, "-o", str(tmp_path / "out"), *SMALL]) == 0
    err = capsys.readouterr().err
    assert err.count("stylized at 24x17 (--max-size 24; --max-size 0 keeps the size)") == 1, err
    assert "3 of 3 images were shrunk to fit --max-size" in err
    assert main(["stylize", inputs[0], "-o", str(tmp_path / "one.png"), *SMALL]) == 0
    err = capsys.readouterr().err
    assert "stylized at 24x17" in err and "were shrunk" not in err


def test_a_full_disk_stops_a_folder_run_after_saying_what_was_written(tmp_path, capsys, monkeypatch):
    import errno

    import stylebank.images

    inputs = [str(p) for p in photos(tmp_path / "in", 6)]
    real_write, tried = stylebank.images.atomic_write, []

    def filling_disk(path, write, *args, **kwargs):
        tried.append(path)
        if len(tried) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, write, *args, **kwargs)

    monkeypatch.setattr(stylebank.images, "atomic_write", filling_disk)
    assert main(["stylize", *inputs, "-o", str(tmp_path / "out"), *SMALL]) == 1
    captured = capsys.readouterr()
    assert captured.out.count(" -> ") == 2 and "No space left on device" in captured.err
    assert len(tried) <= 4  # stopped at the failed write (one more may be under way), not tried on all 6
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"photo0_{FIRST}.jpg", f"photo1_{FIRST}.png"]


def test_a_style_choice_is_parsed_once_per_run_not_per_image(tmp_path, monkeypatch):
    """Resolved once (StylizeOptions.resolved), before the first image; each image and region reuses it."""
    import stylebank.fusion

    parsed = []
    real = stylebank.fusion.parse_style
    monkeypatch.setattr(stylebank.fusion, "parse_style", lambda *a: parsed.append(a) or real(*a))
    inputs = photos(tmp_path / "in", 3)
    assert main(["stylize", *map(str, inputs), "-o", str(tmp_path / "out"), "--backend", "torch", "--regions",
                 "kmeans:2", "--region-styles", f"{THIRD}:0.5,{FIRST}:0.5;{FOURTH}", *SMALL]) == 0
    assert len(list((tmp_path / "out").iterdir())) == 3
    assert [spec for spec, _ in parsed] == [f"{THIRD}:0.5,{FIRST}:0.5", FOURTH]  # once per region, for the whole run
