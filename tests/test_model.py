import pytest
import torch

from stylebank.errors import StyleBankError
from stylebank.images import load_image
from stylebank.tensors import resize_to_fit, to_tensor
from stylebank.metrics import image_psnr
from stylebank.network_config import expected_shapes
from stylebank.model import EXPOSURE_LAYOUTS, MIN_SIZE, InstanceNorm, NetworkConfig, StyleBankNet, parameter_counts


def test_parameter_counts_match_the_paper_layout():
    counts = parameter_counts(StyleBankNet(3, NetworkConfig(exposure="paper")))
    assert counts["encoder_conv"] == 100_160
    assert counts["decoder_conv"] == 100_035
    assert counts["per_style"] == 147_584
    # affine InstanceNorm: 2 per channel, after every conv but the bank's and the last one
    assert counts["encoder_norm"] == 2 * (32 + 64 + 128)
    assert counts["decoder_norm"] == 2 * (64 + 32)
    assert counts["encoder"] == counts["encoder_conv"] + counts["encoder_norm"]
    assert counts["total"] == counts["encoder"] + counts["decoder"] + 3 * counts["per_style"]
    assert counts["decoder_exposure"] == 0 and counts["decoder"] == counts["decoder_conv"] + counts["decoder_norm"]
    carry = parameter_counts(StyleBankNet(3))  # the default: the input's 6 statistics -> scale, shift of 32 channels
    assert carry["decoder_exposure"] == 6 * 64 + 64 and carry["decoder"] == counts["decoder"] + 448


def test_bank_depth_and_kernel_size_are_configurable():
    net = StyleBankNet(1, NetworkConfig(bank_depth=2, bank_kernel_size=5))
    assert parameter_counts(net)["per_style"] == 2 * (128 * 128 * 25 + 128)
    assert net(torch.rand(1, 3, 20, 20), 0).shape == (1, 3, 20, 20)


@pytest.mark.parametrize("size", [(97, 131), (8, 8), (33, 9), (64, 64)])
def test_output_has_the_input_size(size):
    net = StyleBankNet(2).eval()
    images = torch.rand(2, 3, *size)
    assert net(images, 1).shape == images.shape
    assert net.reconstruct(images).shape == images.shape


def test_too_small_images_are_refused_clearly():
    with pytest.raises(StyleBankError, match=f"at least {MIN_SIZE}x{MIN_SIZE}"):
        StyleBankNet(1)(torch.rand(1, 3, MIN_SIZE - 1, 40), 0)


def identity_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    kernel = torch.zeros(channels, channels, kernel_size, kernel_size)
    kernel[:, :, kernel_size // 2, kernel_size // 2] = torch.eye(channels)
    return kernel


@pytest.mark.parametrize("config", [NetworkConfig(), NetworkConfig(bank_depth=2, bank_kernel_size=5)],
                            ids=["default", "deep-5x5"])
def test_fresh_banks_start_at_the_identity(config):
    torch.manual_seed(0)
    net = StyleBankNet(2, config).eval()
    images = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        reconstruction = net.reconstruct(images)
        for style in range(2):
            assert torch.allclose(net(images, style), reconstruction, atol=0.05)
    identity = identity_kernel(config.channels[-1], config.bank_kernel_size)
    convs = [[m for m in bank if isinstance(m, torch.nn.Conv2d)] for bank in net.bank]
    assert all(len(bank) == config.bank_depth for bank in convs)
    for conv in (conv for bank in convs for conv in bank):
        deviation = (conv.weight - identity).abs()
        # close to the identity (a small random perturbation, so that styles can diverge), but not exactly it
        assert 0 < deviation.max() < 0.01 and deviation.mean() > 1e-5
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
    assert not torch.equal(convs[0][0].weight, convs[1][0].weight)  # each bank its own perturbation


def test_each_sample_uses_its_own_bank():
    torch.manual_seed(0)
    net = StyleBankNet(3).eval()
    with torch.no_grad():
        for bank in net.bank:
            bank[1].weight.normal_()
    images = torch.rand(3, 3, 24, 24)
    mixed = net(images, torch.tensor([2, 0, 2]))
    for b, style in enumerate([2, 0, 2]):
        assert torch.allclose(mixed[b], net(images[b:b + 1], style)[0], atol=1e-5)
    with pytest.raises(IndexError, match="out of range"):
        net(images, 3)


def test_the_low_resolution_upsampling_conv_equals_the_plain_one():
    torch.manual_seed(0)
    block = StyleBankNet(1).decoder[0]  # nearest x2, reflection pad, 3x3 conv, IN, ReLU
    x = torch.rand(2, 128, 7, 10, requires_grad=True)
    _, conv_layer, norm, relu = block
    plain = relu(norm(conv_layer(torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))))
    fast = block(x)
    assert fast.shape == (2, 64, 14, 20) and torch.allclose(fast, plain, atol=1e-5)
    grads = [torch.autograd.grad(out.square().sum(), (x, conv_layer[1].weight)) for out in (plain, fast)]
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item()) for a, b in zip(*grads))


def exposures(photo: torch.Tensor) -> list[torch.Tensor]:
    """The photo darker (0.6x), with less contrast (0.5x + 0.25) and brighter (0.7x + 0.3): global affine changes."""
    return [photo * 0.6, photo * 0.5 + 0.25, photo * 0.7 + 0.3]


def exposure_aware(exposure: str) -> StyleBankNet:
    """A network of that layout whose exposure path is not at its zero start (as after some training)."""
    torch.manual_seed(0)
    net = StyleBankNet(1, NetworkConfig(exposure=exposure)).eval()
    if net.decoder.exposure is not None:
        torch.nn.init.normal_(net.decoder.exposure.weight, std=0.5)
    return net


@torch.no_grad()
def test_the_paper_layout_reconstructs_every_exposure_alike_and_the_others_do_not():
    photo = resize_to_fit(to_tensor(load_image("builtin:astronaut")), 64).unsqueeze(0)
    for exposure in EXPOSURE_LAYOUTS:
        net = exposure_aware(exposure)
        plain = net.reconstruct(photo)
        distances = [image_psnr(net.reconstruct(changed), plain) for changed in exposures(photo)]
        if exposure == "paper":  # E's first instance norm removes exactly a global affine change of the input
            assert min(distances) > 50, distances
        else:
            assert max(distances) < 40, (exposure, distances)


def test_old_files_load_as_the_paper_layout_and_bad_layouts_are_refused():
    assert NetworkConfig.from_dict({"bank_depth": 1, "bank_kernel_size": 3, "channels": [32, 64, 128]}).exposure \
        == "paper"
    assert NetworkConfig.from_dict(NetworkConfig(exposure="carry").to_dict()).exposure == "carry"
    with pytest.raises(ValueError, match="exposure must be one of"):
        NetworkConfig(exposure="auto")
    assert NetworkConfig().exposure == "carry"  # the default for new models (docs/study.md)
    assert "decoder.exposure.weight" in StyleBankNet(1).state_dict() and "decoder.exposure.weight" not in \
        StyleBankNet(1, NetworkConfig(exposure="paper")).state_dict()
    assert "encoder.0.1.weight" not in StyleBankNet(1, NetworkConfig(exposure="no_first_norm")).state_dict()


@pytest.mark.parametrize("exposure", ["no_first_norm", "carry"])
def test_tiles_match_the_whole_image_in_every_layout(exposure):
    from stylebank.backends.tiling import stylize_tiled

    net = exposure_aware(exposure)
    photo = resize_to_fit(to_tensor(load_image("builtin:coffee")), 120).unsqueeze(0)
    with torch.no_grad():
        whole = net(photo, 0)
        tiled = stylize_tiled(net, photo, lambda part, rows, cols: net(part, 0), tile=32)
    assert (tiled - whole).abs().max() < 1e-5


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def test_channels_last_norms_are_instance_norms_and_stay_channels_last():
    """The CPU inference layout: InstanceNorm computes a channels-last tensor's norm as batch norm over its pixel
    rows (with the modulation folded into the weights), per sample, and returns it channels-last."""
    torch.manual_seed(0)
    norm = InstanceNorm(6)
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    x = torch.randn(3, 6, 10, 12) * torch.rand(3, 6, 1, 1) * 3 + torch.randn(3, 6, 1, 1)  # own statistics
    modulation = (torch.randn(3, 6, 1, 1), torch.randn(3, 6, 1, 1))
    for extra in ((), (modulation,)):
        expected = torch.nn.functional.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=norm.eps)
        if extra:
            expected = expected * (1 + modulation[0]) + modulation[1]
        fast = norm(channels_last(x), *extra)
        assert fast.is_contiguous(memory_format=torch.channels_last) and not fast.is_contiguous()
        assert torch.allclose(fast, expected, atol=1e-5) and torch.allclose(norm(x, *extra), expected, atol=1e-5)


def test_the_channels_last_network_paints_what_the_nchw_one_paints():
    """Every layer keeps a channels-last input channels-last (the upsampling phases interleaved in that layout)
    and computes the same values, for plain styles, blends, regions and strengths, in every exposure layout."""
    for exposure in EXPOSURE_LAYOUTS:
        net = exposure_aware(exposure)
        photo = torch.rand(2, 3, 37, 50)
        masks = torch.zeros(2, 37, 50)
        masks[0, :, :20], masks[1, :, 20:] = 1, 1
        with torch.no_grad():
            for args in (([{0: 1.0}],), ([{0: 1.0}, {0: 0.5}], masks, 0.6)):
                plain = net.fuse(photo, *args)
                fast = net.fuse(channels_last(photo), *args)
                assert fast.stride(1) == 1 and fast.shape == plain.shape  # channels innermost (a cropped view)
                assert (fast - plain).abs().max() < 1e-5, exposure
            block = net.decoder[0]
            assert block(channels_last(torch.rand(1, 128, 9, 6))).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("config", [NetworkConfig(), NetworkConfig(exposure="paper"),
                                    NetworkConfig(exposure="no_first_norm", bank_depth=3, bank_kernel_size=5,
                                                  channels=(8, 16, 24))])
def test_the_layout_read_without_torch_is_the_networks(config):
    """What `info` and the loaders check a file against (network_config.expected_shapes) is the network's own
    state dict, name for name and shape for shape."""
    for styles in (0, 1, 3):
        state = StyleBankNet(styles, config).state_dict()
        assert expected_shapes(config, styles) == {name: list(t.shape) for name, t in state.items()}
