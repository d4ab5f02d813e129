import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
from stylebank.checkpoint import encoder_decoder_fingerprint, load_model
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.train import TrainConfig, add_styles, train


@pytest.fixture
def base_model(tiny_data):
    config = TrainConfig(content=[str(tiny_data["content"])], styles=[str(tiny_data["styles"][0])],
                         output=str(tiny_data["root"] / "base.safetensors"), image_size=32, style_size=32,
                         batch_size=2, iterations=4, vgg="random", warmup=1, lr_ramp=0, device="cpu",
                         preview=str(tiny_data["content"] / "photo0.png"))
    return train(config, progress=False)


def test_add_style_keeps_everything_else_bit_identical(base_model, tiny_data):
    out = tiny_data["root"] / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], out, iterations=5, progress=False)
    before, _ = load_model(base_model)
    after, info = load_model(out)
    assert info["styles"] == ["zebra", "blobs"] and info["training"]["steps_done"] == 5
    old, new = before.state_dict(), after.state_dict()
    assert all(torch.equal(old[name], new[name]) for name in old)  # E, D and bank 0, bit for bit
    assert not torch.equal(new["bank.1.1.weight"], after.new_bank()[1].weight)  # the new bank learned
    assert info["training"]["base_model"] == str(base_model) and info["loss_network"] == "random:0"
    assert info["style_images"] == [str(s) for s in tiny_data["styles"]]  # what eval measures each style against


def test_add_style_refuses_a_name_the_model_has(base_model, tiny_data):
    with pytest.raises(StyleBankError, match="already has a style named zebra"):
        add_styles(base_model, [str(tiny_data["styles"][0])], tiny_data["root"] / "x.safetensors", iterations=2,
                   progress=False)


def test_add_style_from_the_command_line_reports_time(base_model, tiny_data, capsys):
    out = tiny_data["root"] / "cli-plus.safetensors"
    assert main(["add-style", "-m", str(base_model), "--style", str(tiny_data["styles"][1]), "-o", str(out),
                 "--iterations", "3", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "added blobs" in said and "3 iterations" in said and "2 styles" in said
    assert main(["add-style", "-m", str(out), "--style", str(tiny_data["styles"][1]), "-o", str(out)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err


def test_export_import_reproduces_the_style_exactly(base_model, tiny_data, tmp_path):
    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=3, progress=False)
    model = stylebank.load(plus, "cpu")
    photo = np.asarray(Image.open(tiny_data["content"] / "photo1.png"))
    expected = model.stylize(photo, style="blobs")
    style_file = model.export_style("blobs", tmp_path / "blobs.safetensors")
    assert style_file.stat().st_size < 1_000_000
    base = stylebank.load(base_model, "cpu")
    assert base.import_style(style_file) == ["blobs"] and base.styles == ["zebra", "blobs"]
    assert np.array_equal(base.stylize(photo, style="blobs"), expected)
    reloaded = stylebank.load(base.save(tmp_path / "imported.safetensors"), "cpu")
    assert np.array_equal(reloaded.stylize(photo, style=1), expected)
    assert reloaded.style_images == [str(s) for s in tiny_data["styles"]]
    assert main(["eval", "-m", str(tmp_path / "imported.safetensors"), "--content", str(photo_path(tiny_data)),
                 "--image-size", "32", "--json"]) == 0
    with pytest.raises(StyleBankError, match="already in the model"):
        reloaded.import_style(style_file)


def photo_path(tiny_data):
    return tiny_data["content"] / "photo1.png"


def test_import_refuses_another_encoder_decoder(base_model, tiny_data, tmp_path):
    model = stylebank.load(base_model, "cpu")
    style_file = model.export_style(0, tmp_path / "zebra.safetensors")
    other = stylebank.load(base_model, "cpu")
    with torch.no_grad():
        other.net.decoder[2][1].bias.add_(1e-3)  # any change to E or D changes the fingerprint
    assert encoder_decoder_fingerprint(other.net) != encoder_decoder_fingerprint(model.net)
    with pytest.raises(StyleBankError, match="another encoder/decoder"):
        other.import_style(style_file)
    with pytest.raises(StyleBankError, match="expected a stylebank-style file"):
        other.import_style(base_model)


def test_remove_and_rename(base_model, tiny_data, tmp_path, capsys):
    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=2, progress=False)
    out = tmp_path / "renamed.safetensors"
    assert main(["styles", str(plus), "--rename", "blobs=bubbles", "--remove", "zebra", "-o", str(out)]) == 0
    model = stylebank.load(out, "cpu")
    assert model.styles == ["bubbles"] and model.net.num_styles == 1
    original = stylebank.load(plus, "cpu")
    assert torch.equal(model.net.bank[0][1].weight, original.net.bank[1][1].weight)
    with pytest.raises(StyleBankError, match="every style"):
        model.remove_styles("bubbles")
    with pytest.raises(StyleBankError, match="bad style name"):
        model.rename_style(0, "a,b")
    assert main(["styles", str(plus)]) == 0 and "1: blobs" in capsys.readouterr().out
    assert main(["styles", str(plus), "--remove", "zebra"]) == 1 and "-o" in capsys.readouterr().err


def test_stylize_cli_blends_regions_strength_and_colour(base_model, tiny_data, tmp_path, capsys):
    plus = tmp_path / "plus.safetensors"
    add_styles(base_model, [str(tiny_data["styles"][1])], plus, iterations=2, progress=False)
    photo = tiny_data["content"] / "photo0.png"
    out = tmp_path / "out"
    assert main(["stylize", str(photo), "-m", str(plus), "-s", "zebra:1,blobs:1", "-o", str(out)]) == 0
    assert (out / "photo0_zebra+blobs.png").exists()
    mask = tmp_path / "mask.png"
    labels = np.zeros((40, 52), np.uint8)
    labels[20:] = 255
    Image.fromarray(labels).save(mask)
    assert main(["stylize", str(photo), "-m", str(plus), "--mask", str(mask), "--region-styles", "1,0",
                 "--strength", "0.7", "--preserve-color", "-o", str(out)]) == 0
    assert Image.open(out / "photo0_regions.png").size == (52, 40)
    assert main(["stylize", str(photo), "-m", str(plus), "--regions", "kmeans:2", "--region-styles", "0,1",
                 "-o", str(tmp_path / "k.png")]) == 0
    capsys.readouterr()
    assert main(["stylize", str(photo), "-m", str(plus), "--mask", str(mask), "--region-styles", "1,0,1"]) == 1
    assert "2 regions but 3 region styles" in capsys.readouterr().err
    assert main(["stylize", str(photo), "-m", str(plus), "--mask", str(mask)]) == 1
    assert "--region-styles" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["stylize", str(photo), "--strength", "2"])


def test_contact_sheet(base_model, tiny_data, tmp_path):
    sheet = tmp_path / "sheet.png"
    assert main(["sheet", str(tiny_data["content"] / "photo0.png"), "-m", str(base_model), "-o", str(sheet),
                 "--max-size", "40"]) == 0
    with Image.open(sheet) as image:
        width, height = image.size
    assert width > 2 * 40 and height > 40  # two tiles (original, zebra) with labels


def test_python_add_styles_keeps_edits_made_in_memory(base_model, tiny_data, tmp_path):
    model = stylebank.load(base_model, "cpu")
    model.rename_style("zebra", "stripes")
    model.add_styles([str(tiny_data["styles"][1])], output=tmp_path / "plus.safetensors", iterations=2,
                     progress=False)
    assert model.styles == ["stripes", "blobs"] and stylebank.load(model.path, "cpu").styles == ["stripes", "blobs"]
