"""A model file stands on its own: its style images travel inside it, so eval, info, sheet, the style files and
add-style work from any folder and on any machine; files of earlier versions (paths only) say what to do."""

import json
import os
import shutil

import pytest
import torch

import stylebank
from stylebank.checkpoint import load_model, save_model
from stylebank.cli import main
from stylebank.training.data import load_style_images
from stylebank.errors import StyleBankError
from stylebank.model import StyleBankNet
from stylebank.config import TrainConfig
from stylebank.training.loop import train


def relative_training(tiny_data, monkeypatch) -> str:
    """Train from the data's own folder on relative paths (as people do), then leave that folder: the model's path."""
    root = tiny_data["root"]
    monkeypatch.chdir(root)
    config = TrainConfig(content=["content"], styles=[os.path.relpath(s, root) for s in tiny_data["styles"]],
                         output="train/mine.safetensors", image_size=32, style_size=24, batch_size=2, iterations=2,
                         vgg="random", warmup=0, device="cpu", preview="content/photo0.png")
    return str(root / train(config, progress=False))


def test_style_images_are_stored_at_the_training_style_size(tiny_data, monkeypatch):
    model = relative_training(tiny_data, monkeypatch)
    net, info, pixels = load_model(model)
    assert info["style_images"] == ["styles/zebra.png", "styles/blobs.jpg"]  # where they came from, for the record
    for source, stored in zip(info["style_images"], pixels):
        assert stored.dtype == torch.uint8 and stored.shape[0] == 3 and max(stored.shape[1:]) == 24
        expected = load_style_images([source], 24)[0]
        assert (stored.float() / 255 - expected).abs().max() <= 0.5 / 255 + 1e-6  # the pixels, rounded to 8 bits


def test_eval_info_and_sheet_work_from_another_folder_once_the_style_images_are_gone(tiny_data, tmp_path_factory,
                                                                                     monkeypatch, capsys):
    model = relative_training(tiny_data, monkeypatch)
    photo = tmp_path_factory.mktemp("photos") / "photo.png"
    shutil.copy(tiny_data["content"] / "photo0.png", photo)
    measured = stylebank.load(model, "cpu").style_image("zebra")
    shutil.rmtree(tiny_data["root"] / "styles")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    capsys.readouterr()
    assert main(["eval", "-m", model, "--content", str(photo), "--image-size", "32", "--json", "--device", "cpu"]) == 0
    assert list(json.loads(capsys.readouterr().out)["styles"]) == ["zebra", "blobs"]
    assert torch.equal(stylebank.load(model, "cpu").style_image("zebra"), measured)
    assert main(["info", model]) == 0
    assert "0: zebra  (image 24x24 stored, from styles/zebra.png)" in capsys.readouterr().out
    assert main(["sheet", str(photo), "-m", model, "-o", "sheet.png", "--device", "cpu"]) == 0


def test_a_style_file_carries_its_image_into_another_model(tiny_data, monkeypatch, tmp_path_factory):
    model = relative_training(tiny_data, monkeypatch)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert main(["export-style", "-m", model, "-s", "blobs", "-o", "blobs.safetensors"]) == 0
    assert main(["styles", model, "--remove", "blobs", "-o", "zebra-only.safetensors"]) == 0
    assert main(["import-style", "-m", "zebra-only.safetensors", "blobs.safetensors", "-o", "again.safetensors"]) == 0
    original, again = stylebank.load(model, "cpu"), stylebank.load("again.safetensors", "cpu")
    assert again.styles == ["zebra", "blobs"]
    for style in again.styles:
        assert torch.equal(again.style_image(style), original.style_image(style))


def test_add_style_from_another_folder_names_content_and_keeps_every_style_image(tiny_data, monkeypatch,
                                                                                 tmp_path_factory, capsys):
    model = relative_training(tiny_data, monkeypatch)
    new_style = tmp_path_factory.mktemp("mine") / "dots.png"
    shutil.copy(tiny_data["styles"][0], new_style)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    add = ["add-style", "--quality", "-m", model, "--style", str(new_style), "-o", "plus.safetensors", "--iterations", "1"]
    assert main(add) == 1
    error = capsys.readouterr().err
    assert "content: no such file or folder" in error and "--content" in error and model in error
    photos = str(tiny_data["content"])
    assert main(add + ["--content", photos]) == 0
    plus = stylebank.load("plus.safetensors", "cpu")
    assert plus.styles == ["zebra", "blobs", "dots"] and None not in plus.style_pixels
    assert torch.equal(plus.style_image("zebra"), stylebank.load(model, "cpu").style_image("zebra"))
    # a resumed run writes them too (the base styles' images come from the checkpoint)
    assert main(add + ["--content", photos, "--resume", "--iterations", "2", "--overwrite"]) == 0
    assert None not in stylebank.load("plus.safetensors", "cpu").style_pixels


@pytest.fixture
def earlier_model(tiny_data, tmp_path) -> str:
    """A model file as earlier versions wrote it: style images by relative path, no pixels."""
    brush = tiny_data["root"] / "imgs" / "brush.png"
    brush.parent.mkdir()
    shutil.copy(tiny_data["styles"][0], brush)
    training = {"style_size": 16}
    return str(save_model(tmp_path / "old.safetensors", StyleBankNet(1), ["brush"], "random:0", training,
                          ["imgs/brush.png"]))


def test_a_model_of_an_earlier_version_says_where_its_style_image_was_and_how_to_store_it(
        earlier_model, tiny_data, monkeypatch, tmp_path_factory, capsys):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    with pytest.raises(StyleBankError, match=r"imgs/brush.png: no such file.*relative to the folder it was trained "
                                             r"in.*stylebank styles .*old.safetensors -o NEW.safetensors"):
        stylebank.load(earlier_model, "cpu").style_image("brush")
    assert main(["eval", "-m", earlier_model, "--content", str(tiny_data["content"]), "--image-size", "16"]) == 1
    assert "imgs/brush.png: no such file" in capsys.readouterr().err
    assert main(["styles", earlier_model, "-o", "still-old.safetensors"]) == 0  # a copy: nothing found to store
    assert "no image stored for brush (imgs/brush.png): not found from here" in capsys.readouterr().err
    assert load_model("still-old.safetensors").style_pixels == [None]

    # from the folder it was trained in, the recorded path works, and a copy stores the image
    monkeypatch.chdir(tiny_data["root"])
    recorded = stylebank.load(earlier_model, "cpu").style_image("brush")
    assert recorded.shape == (3, 16, 16)
    stored = tiny_data["root"] / "stored.safetensors"
    assert main(["styles", earlier_model, "-o", str(stored)]) == 0
    assert load_model(stored).style_pixels[0] is not None
    monkeypatch.chdir(tmp_path_factory.mktemp("anywhere"))
    assert torch.equal(stylebank.load(stored, "cpu").style_image("brush"), recorded)
