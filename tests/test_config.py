"""TrainConfig's checks come from each field's declared rule: every numeric setting is checked, none by hand."""

import math
from dataclasses import fields, replace

import pytest

from stylebank.cli import main
from stylebank.config import TrainConfig, option_name
from stylebank.errors import StyleBankError

VALID = TrainConfig(styles=["builtin:mosaic"], warmup=0)
RULED = [f for f in fields(TrainConfig) if "rule" in f.metadata]


def below(config_field) -> object:
    """A value just outside the field's rule."""
    rule = config_field.metadata["rule"]
    if rule.minimum is None:
        return 1.5  # not a whole number
    if rule.exclusive:
        return rule.minimum
    return rule.minimum - 1


def test_every_number_has_a_rule():
    numeric = [f.name for f in fields(TrainConfig) if isinstance(getattr(VALID, f.name), (int, float))
               and not isinstance(getattr(VALID, f.name), bool) or f.name in ("lr_anneal", "max_pixels", "workers")]
    assert sorted(numeric) == sorted(f.name for f in RULED)
    VALID.validate()


@pytest.mark.parametrize("config_field", RULED, ids=lambda f: f.name)
def test_each_setting_refuses_what_its_rule_refuses(config_field):
    with pytest.raises(StyleBankError, match=f"^{option_name(config_field)} must"):
        replace(VALID, **{config_field.name: below(config_field)}).validate()
    with pytest.raises(StyleBankError, match=f"^{option_name(config_field)} must"):
        replace(VALID, **{config_field.name: "3"}).validate()  # a string where a number belongs
    with pytest.raises(StyleBankError, match=f"^{option_name(config_field)} must"):
        replace(VALID, **{config_field.name: math.nan if config_field.metadata["rule"].kind is float
                          else True}).validate()


def test_the_rules_and_the_checks_that_span_fields():
    replace(VALID, lr_anneal=None, max_pixels=None, lr_ramp=0, bank_kernel_size=5).validate()
    with pytest.raises(StyleBankError, match="--bank-kernel-size must be odd"):
        replace(VALID, bank_kernel_size=4).validate()
    with pytest.raises(StyleBankError, match="--image-size must be at least 16, got 8"):
        replace(VALID, image_size=8).validate()
    with pytest.raises(StyleBankError, match="warm-up .* leaves no stylizing"):
        replace(VALID, warmup=10, iterations=10).validate()
    replace(VALID, warmup=10, iterations=10, base_model="base.safetensors").validate()  # add-style: no warm-up
    with pytest.raises(StyleBankError, match="--precision must be one of auto, fp32, bf16, fp16"):
        replace(VALID, precision="fp8").validate()
    with pytest.raises(StyleBankError, match="at least one style"):
        replace(VALID, styles=[]).validate()
    with pytest.raises(StyleBankError, match="must end in .safetensors"):
        replace(VALID, output="model.pt").validate()


@pytest.mark.parametrize("option, value, message", [("--lr", "0", "must be above 0, got 0.0"),
                                                    ("--image-size", "8", "must be at least 16, got 8"),
                                                    ("--warmup", "-1", "must be at least 0, got -1"),
                                                    ("--bank-kernel-size", "4", "must be odd, got 4"),
                                                    ("--iterations", "2.5", "expected a whole number, got '2.5'"),
                                                    ("--style-weight", "nan", "must be finite, got nan")])
def test_the_command_line_reads_the_same_rules(option, value, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_code:
        main(["train", "--content", "builtin", "--style", "builtin:mosaic", "-o", str(tmp_path / "m.safetensors"),
              option, value])
    assert exit_code.value.code == 2
    assert f"argument {option}: {message}" in capsys.readouterr().err


def test_a_configuration_saved_before_the_exposure_layouts_trained_the_papers():
    saved = TrainConfig(styles=["builtin:waves"]).to_dict()
    assert TrainConfig.from_dict(saved).exposure == "carry"  # today's default, as saved
    del saved["exposure"]
    assert TrainConfig.from_dict(saved).exposure == "paper"
