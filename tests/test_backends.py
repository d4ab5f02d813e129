"""The one stylizing contract (stylebank.backends.stylizer) and what the backends built on it promise."""

import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
from stylebank.checkpoint import save_model
from stylebank.errors import StyleBankError
from stylebank.backends.export import export_onnx, onnx_cache_path
from stylebank.model import StyleBankNet
from stylebank.backends.stylizer import StylizeOptions, Stylizer


class Negative(Stylizer):
    """A backend of two lines: every photo's negative, whatever the style; records what it was asked."""

    def __init__(self):
        self.asked: list[StylizeOptions] = []

    @property
    def styles(self) -> list[str]:
        return ["negative"]

    def render(self, batch: torch.Tensor, options: StylizeOptions, carry=None) -> torch.Tensor:
        self.asked.append(options)
        return 1 - batch


def test_a_backend_that_renders_gets_stylize_for_every_kind_of_image():
    backend = Negative()
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(backend.stylize(array), 255 - array)
    assert np.array_equal(np.asarray(backend.stylize(Image.fromarray(array))), 255 - array)
    tensor = torch.rand(3, 20, 30)
    assert torch.allclose(backend.stylize(tensor), 1 - tensor)
    assert backend.stylize(torch.rand(2, 3, 40, 60), max_size=30).shape == (2, 3, 20, 30)  # shrunk first
    assert backend.asked[0].strength == 1.0 and backend.asked[0].mask is None
    backend.stylize(array, style="negative", strength=0.5, tile=0)
    assert (backend.asked[-1].style, backend.asked[-1].strength, backend.asked[-1].tile) == ("negative", 0.5, 0)


def test_preserve_color_is_the_contracts_not_each_backends():
    photo = torch.stack(torch.meshgrid(torch.linspace(0.35, 0.65, 16), torch.linspace(0.4, 0.6, 24), indexing="ij")
                        + (torch.full((16, 24), 0.5),))
    negative = Negative().stylize(photo, preserve_color=True)
    luma = torch.tensor([0.299, 0.587, 0.114])
    chroma = torch.tensor([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    assert torch.allclose(torch.einsum("c,chw->hw", luma, negative), torch.einsum("c,chw->hw", luma, 1 - photo),
                          atol=1e-4)  # the stylized brightness...
    assert torch.allclose(torch.einsum("ic,chw->ihw", chroma, negative), torch.einsum("ic,chw->ihw", chroma, photo),
                          atol=1e-4)  # ...with the photo's colours
    # PIL images and arrays (what the command line and ONNX Runtime stylize) get the same, in numpy
    pixels = np.round(photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    expected = Negative().stylize(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255, preserve_color=True)
    expected = np.round(expected.permute(1, 2, 0).numpy() * 255)
    for picture in (pixels, Image.fromarray(pixels)):
        assert np.abs(np.asarray(Negative().stylize(picture, preserve_color=True), dtype=float) - expected).max() <= 1


@pytest.mark.parametrize("options, message", [(dict(strength=1.5), "strength must be between 0 and 1"),
                                              (dict(strength=-0.1), "strength must be between 0 and 1"),
                                              (dict(tile=-1), "tile must be a positive"),
                                              (dict(precision="fp16"), "precision must be one of")])
def test_options_are_checked_once_for_every_backend(options, message):
    with pytest.raises(StyleBankError, match=message):
        StylizeOptions(**options)
    with pytest.raises(StyleBankError, match=message):
        Negative().stylize(np.zeros((16, 16, 3), np.uint8), **options)


def test_a_backend_must_render():
    with pytest.raises(TypeError):
        Stylizer()


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    return stylebank.load(save_model(tmp_path / "m.safetensors", StyleBankNet(2), ["calm", "wild"], "random:0", {}),
                          "cpu")


def test_export_leaves_the_callers_network_as_it_was(model, tmp_path, monkeypatch):
    model.net.double()
    before = {name: tensor.clone() for name, tensor in model.net.state_dict().items()}

    def exporter(module, *args, **kwargs):
        assert all(p.dtype == torch.float32 for p in module.parameters())  # the export's own fp32 copy
        raise RuntimeError("stop here")

    monkeypatch.setattr(torch.onnx, "export", exporter)
    with pytest.raises(RuntimeError, match="stop here"):
        export_onnx(model.net, model.styles, tmp_path / "m.onnx")
    after = model.net.state_dict()
    assert all(after[name].dtype == torch.float64 and torch.equal(after[name], value) for name, value in before.items())
    assert list(tmp_path.glob("*.onnx*")) == []  # the temporary file went with the failure


def test_the_onnx_cache_is_keyed_on_weights_and_names_not_on_a_file(model, tmp_path):
    key = onnx_cache_path(model.net, model.styles)
    copy = stylebank.load(model.save(tmp_path / "elsewhere.safetensors"), "cpu")
    assert onnx_cache_path(copy.net, copy.styles) == key  # the same model in another file
    copy.rename_style("wild", "storm")
    assert onnx_cache_path(copy.net, copy.styles) != key  # the names are in the exported file
    with torch.no_grad():
        model.net.bank[1][1].weight[0, 0, 0, 0] += 1e-3
    assert onnx_cache_path(model.net, model.styles) != key  # edited in memory: its own export
