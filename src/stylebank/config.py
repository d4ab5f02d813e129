"""What defines a training run: ``TrainConfig``, the checks on it, and what a resumed or add-style run may change.

Every field declares what it may hold (``setting(..., minimum=...)``); ``TrainConfig.validate`` and the command
line's option types both read those declarations, so no list of checks is kept by hand. The defaults are
practical ones for a CPU; ``TrainConfig.paper()`` gives the paper's.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import StyleBankError
from .formats import CHECKPOINT_FORMAT, DEFAULT_STYLE_SIZE, read_info
from .images import expand_sources, is_found
from .network_config import EXPOSURE_LAYOUTS, NetworkConfig
from .runtime import TRAINING_PRECISIONS


@dataclass(frozen=True)
class LossWeights:
    """alpha, beta, gamma of L_K = alpha L_c + beta L_s + gamma L_tv (stylebank.losses)."""

    content: float = 1.0
    style: float = 4.0
    tv: float = 1.0


@dataclass(frozen=True)
class Rule:
    """What a numeric setting may hold: a whole number or a finite number, at least (or above) ``minimum`` and
    below ``below``."""

    kind: type  # int or float
    minimum: float | None = None
    exclusive: bool = False  # the value must be above minimum, not equal to it
    optional: bool = False  # None is allowed (and means the documented default)
    odd: bool = False
    below: float | None = None  # the value must be below this

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, or None."""
        if value is None:
            return None if self.optional else "must be given"
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.kind is int else numbers.Real):
            return f"must be a {'whole number' if self.kind is int else 'number'}, got {value!r}"
        if not math.isfinite(value):
            return f"must be finite, got {value}"
        if self.minimum is not None and (value <= self.minimum if self.exclusive else value < self.minimum):
            return f"must be {'above' if self.exclusive else 'at least'} {self.minimum:g}, got {value}"
        if self.below is not None and value >= self.below:
            return f"must be below {self.below:g}, got {value}"
        if self.odd and value % 2 == 0:
            return f"must be odd, got {value}"
        return None


def setting(default: Any, kind: type, minimum: float | None = None, exclusive: bool = False,
            odd: bool = False, below: float | None = None) -> Any:
    """A numeric field with its rule (``None`` as the default makes it optional)."""
    rule = Rule(kind, minimum, exclusive, optional=default is None, odd=odd, below=below)
    return field(default=default, metadata={"rule": rule})


def rule_of(name: str) -> Rule | None:
    """The rule of TrainConfig field ``name`` (None for the fields that are not numbers)."""
    return TrainConfig.__dataclass_fields__[name].metadata.get("rule")


def option_name(config_field: Field | str) -> str:
    """How the command line spells a field: image_size -> --image-size, styles -> --style."""
    name = config_field if isinstance(config_field, str) else config_field.name
    return "--" + name.removesuffix("s" if name == "styles" else "").replace("_", "-")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults are practical ones for a CPU; see ``paper()``."""

    content: list[str] = field(default_factory=lambda: ["builtin"])
    styles: list[str] = field(default_factory=list)
    output: str = "model.safetensors"
    image_size: int = setting(256, int, minimum=16)
    style_size: int = setting(DEFAULT_STYLE_SIZE, int, minimum=1)
    iterations: int = setting(4000, int, minimum=1)
    batch_size: int = setting(4, int, minimum=1)  # m
    vgg: str = "vgg19"  # the loss network's weights (stylebank.lossnet.load_loss_network)
    # the layers the losses read (None: the loss network's defaults, stylebank.lossnet.DEFAULT_LAYERS)
    content_layer: str | None = None
    style_layers: tuple[str, ...] | None = None
    seed: int = setting(0, int)
    lr: float = setting(1e-3, float, minimum=0, exclusive=True)
    lr_decay: float = setting(0.8, float, minimum=0, exclusive=True)
    lr_decay_every: int = setting(30_000, int, minimum=1)
    # the last N iterations follow a cosine to zero; None: a quarter of the run
    lr_anneal: int | None = setting(None, int, minimum=0)
    style_steps: int = setting(2, int, minimum=1)  # T
    identity_balance: float = setting(1.0, float, minimum=0)  # lambda
    content_weight: float = setting(LossWeights.content, float, minimum=0)
    style_weight: float = setting(LossWeights.style, float, minimum=0)
    tv_weight: float = setting(LossWeights.tv, float, minimum=0)
    # the stylized picture of the photo moved by 1-3 pixels should be the stylized picture moved (0: the paper's
    # objective); without it the texture is anchored to E's stride-4 grid and re-rolls on moving content in video
    shift_weight: float = setting(0.0, float, minimum=0)
    # with the shift term, the moved crop also gets noise of this RMS (8-bit levels) in blobs of 2-8 pixels, as a
    # camera's next frame has (compression, sensor): without it a network turned such noise into re-rolled texture
    shift_noise: float = setting(0.0, float, minimum=0)
    warmup: int = setting(300, int, minimum=0)  # auto-encoder-only iterations first (no VGG, cheap)
    # the learning rate rises linearly over this many iterations after the warm-up
    lr_ramp: int = setting(200, int, minimum=0)
    bank_depth: int = setting(NetworkConfig.bank_depth, int, minimum=1)
    bank_kernel_size: int = setting(NetworkConfig.bank_kernel_size, int, minimum=1, odd=True)
    channels: tuple[int, int, int] = NetworkConfig.channels  # E's widths (D mirrors them); the bank's is the last
    exposure: str = NetworkConfig.exposure  # how the input's exposure reaches D (see stylebank.model)
    # random brightness, contrast and saturation of each content crop, each a factor within 1 +- this (0: none)
    color_jitter: float = setting(0.0, float, minimum=0, below=1)  # a factor of 1 - 1 would black a crop out
    # autocast both networks: bf16 (1.6x faster on CPUs with AVX-512 bf16), fp16 (with a gradient scaler), fp32;
    # auto: what the device does natively (see runtime.training_dtype)
    precision: str = "auto"
    compile: bool = False  # torch.compile the networks' forward (for long GPU runs: compiling takes minutes)
    tensorboard: str | None = None  # a folder for TensorBoard's event files (the JSONL log is written anyway)
    checkpoint_every: int = setting(500, int, minimum=1)
    sample_every: int = setting(500, int, minimum=1)
    log_every: int = setting(10, int, minimum=1)
    device: str = "auto"
    workers: int | None = setting(None, int, minimum=0)  # DataLoader processes (None: batches.default_workers)
    preview: str = "builtin:astronaut"  # held out from training; shown in the sample images
    base_model: str | None = None  # add-style: train new banks only, on top of this model (its file, if any)
    init_from: str | None = None  # fine-tuning: start from this model file's weights (same styles and shape)
    # refuse images above this many pixels before decoding them (None: images.MAX_PIXELS; 0: no limit)
    max_pixels: int | None = setting(None, int, minimum=0)

    def __post_init__(self):
        for name in ("channels", "style_layers"):  # lists, as JSON and the command line give them
            if isinstance(getattr(self, name), list):
                setattr(self, name, tuple(getattr(self, name)))

    @classmethod
    def paper(cls, **overrides) -> "TrainConfig":
        """The paper's hyper-parameters (Adam 0.01, x0.8 every 30k, 300k iterations, 512 crops, no warm-up)."""
        return replace(cls(lr=0.01, iterations=300_000, image_size=512, style_size=512, warmup=0), **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """A configuration from a saved one; keys this version does not know are ignored, and one saved before
        the exposure layouts existed trained the paper's."""
        known = {f.name for f in fields(cls)}
        return cls(**{"exposure": "paper", **{k: v for k, v in data.items() if k in known}})

    def network_config(self) -> NetworkConfig:
        """The shape of the network this run trains."""
        return NetworkConfig(bank_depth=self.bank_depth, bank_kernel_size=self.bank_kernel_size,
                             channels=tuple(self.channels), exposure=self.exposure)

    @property
    def anneal_iterations(self) -> int:
        return self.iterations // 4 if self.lr_anneal is None else min(self.lr_anneal, self.iterations)

    @property
    def checkpoint_path(self) -> Path:
        return checkpoint_path(self.output)

    @property
    def samples_dir(self) -> Path:
        return with_suffix(self.output, ".samples")

    @property
    def log_path(self) -> Path:
        return with_suffix(self.output, ".log.jsonl")

    def validate(self) -> None:
        """Raise StyleBankError for the first setting that cannot work, before any time is spent training."""
        for config_field in fields(self):
            rule = config_field.metadata.get("rule")
            problem = rule.problem(getattr(self, config_field.name)) if rule else None
            if problem:
                raise StyleBankError(f"{option_name(config_field)} {problem}")
        if self.exposure not in EXPOSURE_LAYOUTS:
            raise StyleBankError(f"--exposure must be one of {', '.join(EXPOSURE_LAYOUTS)}, got {self.exposure!r}")
        if len(self.channels) != 3 or not all(isinstance(c, int) and c >= 1 for c in self.channels):
            raise StyleBankError(f"--channels needs three widths of at least 1, got {list(self.channels)}")
        if self.precision not in TRAINING_PRECISIONS:
            raise StyleBankError(f"--precision must be one of {', '.join(TRAINING_PRECISIONS)}, got {self.precision!r}")
        if self.warmup >= self.iterations and not self.base_model:
            raise StyleBankError(f"the warm-up ({self.warmup} auto-encoder-only iterations) leaves no stylizing "
                                 f"iterations out of {self.iterations}; lower --warmup or raise --iterations")
        if self.shift_noise and not self.shift_weight:
            raise StyleBankError("--shift-noise is noise on the shift term's moved crop; give --shift-weight too")
        if self.init_from and self.base_model:
            raise StyleBankError("--init-from starts a whole run from a model; add-style trains new banks on one")
        if not self.styles:
            raise StyleBankError("give at least one style image")
        if not self.content:
            raise StyleBankError("give at least one content source")
        if not Path(self.output).suffix == ".safetensors":
            raise StyleBankError(f"the model file must end in .safetensors: {self.output}")


def with_suffix(output: str, suffix: str) -> Path:
    """A file beside the model file: model.safetensors -> model<suffix>."""
    path = Path(output)
    return path.with_name(path.name.removesuffix(".safetensors") + suffix)


def checkpoint_path(output: str | Path) -> Path:
    """The checkpoint of the run that writes the model file ``output``."""
    return with_suffix(str(output), ".checkpoint.safetensors")


# What a resumed run may change; everything else comes from the checkpoint so that the run continues exactly.
# Changing the iterations or the learning-rate schedule continues with the new schedule from the saved step
# (e.g. a longer run, or an anneal for a run that has levelled off).
# The settings that belong to the machine and the session, not to the model: a resumed run may change them, and
# add-style starts from the defaults rather than the base run's.
MACHINE_SETTINGS = ("device", "precision", "compile", "tensorboard", "workers", "max_pixels")
# The shift term may be switched on for the rest of a run (a model trained without it, made steady for video).
RESUMABLE_OVERRIDES = ("iterations", "lr", "lr_decay", "lr_decay_every", "lr_anneal", "shift_weight", "shift_noise",
                       "checkpoint_every", "sample_every", "log_every", *MACHINE_SETTINGS)


def resumed_config(output: str | Path, **changes) -> TrainConfig:
    """The configuration saved in ``output``'s checkpoint, with ``changes``: any of RESUMABLE_OVERRIDES, and
    other settings only where they equal the saved ones (so the original command line + --resume works)."""
    checkpoint = checkpoint_path(output)
    if not checkpoint.exists():
        raise StyleBankError(f"nothing to resume: {checkpoint} does not exist")
    info = read_info(checkpoint, CHECKPOINT_FORMAT)
    saved = TrainConfig.from_dict(info["config"])
    wanted = replace(saved, **changes)  # compared as configurations: a list from the command line is a tuple here
    fixed = sorted(name for name in changes
                   if name not in RESUMABLE_OVERRIDES and getattr(wanted, name) != getattr(saved, name))
    if fixed:
        raise StyleBankError(f"{', '.join(option_name(name) for name in fixed)} cannot change when resuming (the "
                             f"checkpoint fixes it); a resumed run may change only {', '.join(RESUMABLE_OVERRIDES)}")
    config = replace(wanted, output=str(output))
    check_resumed_iterations(config, info["step"], checkpoint)
    return config


def check_resumed_iterations(config: TrainConfig, step: int, checkpoint: Path) -> None:
    """A StyleBankError where a resumed run's --iterations cannot work with its checkpoint: it would end before
    the saved step, or inside the warm-up (which validate() would blame on --warmup, but that cannot change)."""
    iterations = config.iterations
    if rule_of("iterations").problem(iterations):
        return  # not a whole number of at least 1: validate() says so
    if iterations < step:
        raise StyleBankError(f"the checkpoint {checkpoint} is at iteration {step}; --iterations {iterations} would "
                             f"end before it: give more than {step} iterations to train on (or use the model file "
                             "as it is)")
    if config.warmup >= iterations and not config.base_model:
        raise StyleBankError(f"the run's warm-up ({config.warmup} auto-encoder-only iterations, fixed by the "
                             f"checkpoint) leaves no stylizing iterations out of --iterations {iterations}: give "
                             f"more than {config.warmup} iterations")


def base_content_found(content: list[str], base_model: str) -> None:
    """A StyleBankError naming --content where the photos a base model was trained on are not found from here."""
    try:
        expand_sources(content)
    except StyleBankError as error:
        raise StyleBankError(f"{error}: {base_model} was trained on the photos {', '.join(content)} (relative to "
                             "the folder it was trained in), and add-style uses them unless told otherwise; give "
                             "photos to train on with --content FOLDER (content=[...] in Python)") from None


ADD_STYLE_ITERATIONS = 1000
# Only the new banks learn, so there is no shared E/D to protect: the paper's 0.01 learns a new style about 5x
# faster than the 1e-3 that joint training needs (benchmarks/incremental.py).
ADD_STYLE_LR = 0.01


@dataclass(frozen=True)
class QuickStyleConfig:
    """How a quick add-style run (stylebank.training.quick_style) learns each new bank: defaults measured by
    benchmarks/quick_style.py."""

    seconds: float = 60.0  # training time per style, after set-up (reading the photos, the loss network)
    steps: int | None = None  # a fixed number of steps instead of a time budget: the same bank on every machine
    image_size: int = 128  # crop side
    crops: int = 32  # crops drawn from the content photos, encoded once and sampled for every step
    batch_size: int = 4
    lr: float = 0.005
    anneal: bool = False  # cosine-anneal the learning rate to zero over the budget
    seed: int = 0
    shift_weight: float | None = None  # the shift term's weight (TrainConfig.shift_weight); None: the model's own

    def validate(self) -> None:
        """Raise StyleBankError for the first setting that cannot work."""
        if self.steps is None and not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise StyleBankError(f"--seconds must be a number above 0, got {self.seconds}")
        if self.steps is not None and self.steps < 1:
            raise StyleBankError(f"--steps must be at least 1, got {self.steps}")
        if self.image_size < 16:
            raise StyleBankError(f"--image-size must be at least 16, got {self.image_size}")
        if self.crops < 1 or self.batch_size < 1:
            raise StyleBankError(f"crops and --batch-size must be at least 1, got {self.crops} and {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise StyleBankError(f"--lr must be a number above 0, got {self.lr}")
        if self.shift_weight is not None and not (self.shift_weight >= 0 and math.isfinite(self.shift_weight)):
            raise StyleBankError(f"the shift weight must be a number of at least 0, got {self.shift_weight}")


def add_style_config(base_info: dict, base_model: str, styles: list[str], output: str | Path,
                     content: list[str] | None = None, **options) -> TrainConfig:
    """The add-style configuration for a base model whose file metadata is ``base_info``: the base model's own
    training settings (content, sizes, loss weights, loss network), ADD_STYLE_ITERATIONS at ADD_STYLE_LR on the
    default schedule (the base run's anneal length was for its own iterations) and the default MACHINE_SETTINGS
    (the base run's were for its machine: bf16 is many times slower than fp32 on a CPU without native bf16, and
    --compile is refused on a CPU), then ``options`` (any TrainConfig field)."""
    base = TrainConfig.from_dict(base_info.get("training") or {})
    if not content:
        base_content_found(base.content, base_model)
    # the base run's preview photo is only a picture to look at: where it is not found from here, the default
    preview = base.preview if is_found(base.preview) else TrainConfig.preview
    config = replace(base, styles=list(styles), output=str(output), base_model=base_model,
                     content=list(content) if content else base.content, iterations=ADD_STYLE_ITERATIONS,
                     lr=ADD_STYLE_LR, lr_anneal=TrainConfig.lr_anneal,
                     **{name: getattr(TrainConfig, name) for name in MACHINE_SETTINGS},
                     vgg=base_info.get("loss_network") or base.vgg, preview=preview, init_from=None)
    return replace(config, **options)

# Gatys et al.'s optimization (gatys.py, the eval baseline): steps by default.
GATYS_STEPS = 300
