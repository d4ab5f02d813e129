"""Training: the paper's Algorithm 1 as a plain loop, with checkpoints that truly resume.

Every T+1 iterations: T stylizing iterations (a batch of content crops, each with its own style index;
updates E, D and the banks used) then one auto-encoder iteration (updates E and D only), whose gradient is
rescaled to lambda times the magnitude of the last stylizing gradient on E and D. One shared Adam.
Before that, ``warmup`` auto-encoder-only iterations (no VGG, cheap) give E and D a working reconstruction.
"""

from __future__ import annotations

import json
import math
import re
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from tqdm import tqdm

from .atomic import remove_stale_temporaries
from .checkpoint import (CHECKPOINT_FORMAT, MODEL_FORMAT, load_checkpoint, load_model, read_info, save_checkpoint,
                         save_model)
from .data import ContentImages, StyleSampler, load_style_images, style_name
from .errors import StyleBankError
from .images import image_grid, load_image, resize_to_fit, save_image, to_tensor
from .losses import LossWeights, StylizingLoss, identity_loss, psnr
from .lossnet import load_loss_network
from .model import NetworkConfig, StyleBankNet
from .runtime import autocast, resolve_device

STYLE, IDENTITY = "style", "identity"


@dataclass
class TrainConfig:
    """Everything that defines a training run. Defaults are practical ones for a CPU; see ``paper()``."""

    content: list[str] = field(default_factory=lambda: ["builtin"])
    styles: list[str] = field(default_factory=list)
    output: str = "model.safetensors"
    image_size: int = 256
    style_size: int = 256
    iterations: int = 4000
    batch_size: int = 4  # m
    vgg: str = "imagenet"
    seed: int = 0
    lr: float = 1e-3
    lr_decay: float = 0.8
    lr_decay_every: int = 30_000
    lr_anneal: int | None = None  # the last N iterations follow a cosine to zero; None: a quarter of the run
    style_steps: int = 2  # T
    identity_balance: float = 1.0  # lambda
    content_weight: float = LossWeights.content
    style_weight: float = LossWeights.style
    tv_weight: float = LossWeights.tv
    warmup: int = 300  # auto-encoder-only iterations first (no VGG, cheap)
    lr_ramp: int = 200  # the learning rate rises linearly over this many iterations after the warm-up
    bank_depth: int = NetworkConfig.bank_depth
    bank_kernel_size: int = NetworkConfig.bank_kernel_size
    precision: str = "fp32"  # "bf16": autocast both networks (1.6x faster on CPUs with AVX-512 bf16)
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 10
    device: str = "auto"
    preview: str = "builtin:astronaut"  # held out from training; shown in the sample images
    base_model: str | None = None  # add-style: train new banks only, on top of this model file

    @classmethod
    def paper(cls, **overrides) -> "TrainConfig":
        """The paper's hyper-parameters (Adam 0.01, x0.8 every 30k, 300k iterations, 512 crops, no warm-up)."""
        return replace(cls(lr=0.01, iterations=300_000, image_size=512, style_size=512, warmup=0), **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def anneal_iterations(self) -> int:
        return self.iterations // 4 if self.lr_anneal is None else min(self.lr_anneal, self.iterations)

    @property
    def checkpoint_path(self) -> Path:
        return with_suffix(self.output, ".checkpoint.safetensors")

    @property
    def samples_dir(self) -> Path:
        return with_suffix(self.output, ".samples")

    @property
    def log_path(self) -> Path:
        return with_suffix(self.output, ".log.jsonl")

    def validate(self) -> None:
        positive = ("image_size", "style_size", "iterations", "batch_size", "style_steps", "lr", "lr_decay_every",
                    "bank_depth", "bank_kernel_size", "checkpoint_every", "sample_every", "log_every")
        for name in positive:
            if not getattr(self, name) > 0:
                raise StyleBankError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.lr_anneal is not None and self.lr_anneal < 0:
            raise StyleBankError(f"lr-anneal must be >= 0, got {self.lr_anneal}")
        for name in ("content_weight", "style_weight", "tv_weight", "warmup", "identity_balance"):
            if getattr(self, name) < 0 or not math.isfinite(getattr(self, name)):
                raise StyleBankError(f"{name.replace('_', '-')} must be a finite number >= 0")
        if self.image_size < 16:
            raise StyleBankError(f"image-size must be at least 16, got {self.image_size}")
        if self.bank_kernel_size % 2 == 0:
            raise StyleBankError("bank kernel size must be odd")
        if self.precision not in ("fp32", "bf16"):
            raise StyleBankError(f"precision must be fp32 or bf16, got {self.precision!r}")
        if self.warmup >= self.iterations and not self.base_model:
            raise StyleBankError(f"the warm-up ({self.warmup} auto-encoder-only iterations) leaves no stylizing "
                                 f"iterations out of {self.iterations}; lower --warmup or raise --iterations")
        if not self.styles:
            raise StyleBankError("give at least one style image")
        if not Path(self.output).suffix == ".safetensors":
            raise StyleBankError(f"the model file must end in .safetensors: {self.output}")


def with_suffix(output: str, suffix: str) -> Path:
    path = Path(output)
    return path.with_name(path.name.removesuffix(".safetensors") + suffix)


@contextmanager
def reported_write_errors(path: Path | str, what_is_safe: str) -> Iterator[None]:
    """A failed write (full disk, permissions) as one StyleBankError saying what was not lost."""
    try:
        yield
    except OSError as error:
        raise StyleBankError(f"could not write {path} ({error.strerror or error}); {what_is_safe}. Free some space "
                             "or write elsewhere, then run the same command with --resume") from None


def prepare_output_folder(output: Path) -> None:
    """Create the model's folder and check that it is writable before any time is spent training."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError as error:
        raise StyleBankError(f"cannot write to {output.parent}: {error.strerror or error}") from None


def branch_at(step: int, warmup: int, style_steps: int) -> str:
    """Which branch iteration ``step`` trains: warm-up, then T stylizing steps and one auto-encoder step."""
    if step < warmup:
        return IDENTITY
    return IDENTITY if (step - warmup) % (style_steps + 1) == style_steps else STYLE


def encoder_decoder_grad_norm(net: StyleBankNet) -> float:
    grads = [p.grad for m in (net.encoder, net.decoder) for p in m.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()


class Trainer:
    """Holds the training state; ``run()`` trains to ``config.iterations`` and writes the model file."""

    def __init__(self, config: TrainConfig, resume: bool = False):
        config.validate()
        self.config = config
        prepare_output_folder(Path(config.output))
        self.device = resolve_device(config.device)
        new_names = [style_name(s) for s in config.styles]
        self.content = ContentImages(config.content, config.image_size)
        self.style_images = load_style_images(config.styles, config.style_size)
        self.loss_network = load_loss_network(config.vgg, self.device)
        self.criterion = StylizingLoss(self.loss_network, [s.to(self.device) for s in self.style_images],
                                       LossWeights(config.content_weight, config.style_weight, config.tv_weight))
        self.warmup = 0 if config.base_model else config.warmup
        self.data_generator = torch.Generator()
        self.step = 0
        self.sampler = StyleSampler(len(config.styles))
        self.style_grad_norm: float | None = None
        self.skipped = self.skipped_in_a_row = 0  # steps with a non-finite loss or gradient
        if resume:
            net, optimizer_state, rng, info = load_checkpoint(config.checkpoint_path)
            self.frozen_styles = info.get("frozen_styles", 0)
        else:
            torch.manual_seed(config.seed)
            self.data_generator.manual_seed(config.seed)
            if config.base_model:
                net, self.base_styles, self.base_style_images = self.base_network()
            else:
                net_config = NetworkConfig(bank_depth=config.bank_depth, bank_kernel_size=config.bank_kernel_size)
                net, self.base_styles, self.base_style_images = StyleBankNet(0, net_config), [], []
            self.frozen_styles = net.num_styles
            net.bank.extend(net.new_bank() for _ in config.styles)
        self.net = net.to(self.device)
        # add-style: E, D and the existing banks stay bit-identical; only the new banks learn
        for module in (self.net.encoder, self.net.decoder, *self.net.bank[:self.frozen_styles]):
            module.requires_grad_(not self.frozen_styles)
        self.optimizer = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=config.lr)
        self.scheduler = self.make_scheduler()
        if resume:
            self._restore(optimizer_state, rng, info, new_names)
        self.style_names = self.base_styles + new_names
        self.style_sources = self.base_style_images + list(config.styles)
        self.stop_requested = False
        self.stop_signal: int | None = None  # the signal that asked training to stop

    def base_network(self) -> tuple[StyleBankNet, list[str], list[str | None]]:
        """The model that add-style extends, its style names and images; refuses names it already has."""
        net, info = load_model(self.config.base_model)
        taken = set(info["styles"]) & {style_name(s) for s in self.config.styles}
        if taken:
            raise StyleBankError(f"{self.config.base_model} already has a style named {', '.join(sorted(taken))}; "
                                 "rename the style image or the existing style (stylebank styles --rename)")
        return net, info["styles"], info.get("style_images") or [None] * net.num_styles

    def lr_factor(self, step: int) -> float:
        """Decay x lr_decay every lr_decay_every iterations; a linear ramp when the stylizing branch starts; a
        cosine to zero over the last ``anneal_iterations``.

        The ramp matters: Adam's moments were estimated on the small auto-encoder gradients, and its first
        full-size steps on the much larger stylizing gradients would wreck the freshly warmed-up E and D.
        The anneal lets the last iterations settle instead of ending on a noisy full-size step.
        """
        config = self.config
        factor = config.lr_decay ** (step // config.lr_decay_every)
        if step >= self.warmup and config.lr_ramp:
            factor *= min(1.0, (step - self.warmup + 1) / config.lr_ramp)
        anneal_start = config.iterations - config.anneal_iterations
        if config.anneal_iterations and step >= anneal_start:
            factor *= 0.5 * (1 + math.cos(math.pi * (step - anneal_start) / config.anneal_iterations))
        return factor

    def make_scheduler(self) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.lr_factor)

    def _restore(self, optimizer_state: dict, rng: dict[str, torch.Tensor], info: dict, new_names: list[str]) -> None:
        if info["styles"][self.frozen_styles:] != new_names:
            raise StyleBankError(f"{self.config.checkpoint_path} was trained on styles "
                                 f"{info['styles'][self.frozen_styles:]}, not {new_names}")
        self.base_styles = info["styles"][:self.frozen_styles]
        self.base_style_images = info.get("style_images", [None] * self.frozen_styles)[:self.frozen_styles]
        self.optimizer.load_state_dict(optimizer_state)
        self.scheduler.load_state_dict(info["scheduler"])
        # the resumed run may have changed the schedule (more iterations, another lr): follow it from here on
        self.scheduler.base_lrs = [self.config.lr] * len(self.optimizer.param_groups)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.config.lr
            group["lr"] = self.config.lr * self.lr_factor(info["step"])
        self.step = info["step"]
        self.sampler = StyleSampler(len(new_names), info["style_queue"])
        self.style_grad_norm = info["style_grad_norm"]
        self.skipped = info.get("skipped", 0)
        torch.set_rng_state(rng["torch"])
        self.data_generator.set_state(rng["data"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])

    def save_checkpoint(self) -> Path:
        rng = {"torch": torch.get_rng_state(), "data": self.data_generator.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        info = {"step": self.step, "styles": self.style_names, "config": self.config.to_dict(),
                "scheduler": self.scheduler.state_dict(), "style_queue": self.sampler.queue,
                "style_grad_norm": self.style_grad_norm, "skipped": self.skipped, "loss_network": self.loss_network.source,
                "frozen_styles": self.frozen_styles, "style_images": self.style_sources}
        with reported_write_errors(self.config.checkpoint_path, "the previous checkpoint is intact"):
            return save_checkpoint(self.config.checkpoint_path, self.net, self.optimizer, rng, info)

    def save_model(self) -> Path:
        training = {**self.config.to_dict(), "steps_done": self.step}
        with reported_write_errors(self.config.output, f"the checkpoint {self.config.checkpoint_path} holds the run"):
            return save_model(self.config.output, self.net, self.style_names, self.loss_network.source, training,
                          self.style_sources)

    def train_step(self) -> dict[str, float]:
        """One iteration of whichever branch the schedule says; returns the logged numbers.

        A step whose loss or gradients are not finite changes nothing (it is counted and logged as skipped);
        MAX_SKIPPED_IN_A_ROW of them in a row stop training with TrainingDiverged.
        """
        config = self.config
        self.net.train()
        images = self.content.sample(config.batch_size, self.data_generator).to(self.device)
        branch = STYLE if self.frozen_styles else branch_at(self.step, self.warmup, config.style_steps)
        # set_to_none: banks that get no gradient this step are skipped by Adam (not moved by momentum)
        self.optimizer.zero_grad(set_to_none=True)
        dtype = torch.bfloat16 if config.precision == "bf16" else torch.float32
        if branch == STYLE:
            styles = self.sampler.next(config.batch_size, self.data_generator)
            with autocast(self.device, dtype):  # the sampler counts the styles being trained, which follow any frozen ones
                output = self.net(images, styles + self.frozen_styles)
                losses = self.criterion(output, images, styles.to(self.device))
            loss = losses["total"]
            loss.backward()
            record = {name: value.item() for name, value in losses.items()}
        else:
            with autocast(self.device, dtype):
                loss = identity_loss(self.net.reconstruct(images), images)
            loss.backward()
            record = {"identity": loss.item(), "psnr": psnr(loss.item())}
        if self.is_finite(loss):
            self.skipped_in_a_row = 0
            if branch == STYLE and not self.frozen_styles:
                self.style_grad_norm = encoder_decoder_grad_norm(self.net)
            elif branch == IDENTITY and self.style_grad_norm is not None and self.step >= self.warmup:
                self.balance_identity_gradient(record)
            self.optimizer.step()
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            self.skipped_in_a_row += 1
            record["skipped"] = self.skipped
        with warnings.catch_warnings():  # torch warns when the very first step is a skipped one; that's intended
            warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()` before"))
            self.scheduler.step()
        self.step += 1
        if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            raise TrainingDiverged(self.step, self.skipped_in_a_row, self.config.checkpoint_path)
        return {"step": self.step, "branch": branch, **record}

    def is_finite(self, loss: torch.Tensor) -> bool:
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        return bool(torch.isfinite(loss)) and bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))

    def balance_identity_gradient(self, record: dict[str, float]) -> None:
        """lambda: the auto-encoder gradient gets lambda times the stylizing gradient's magnitude."""
        identity_norm = encoder_decoder_grad_norm(self.net)
        record["grad_ratio"] = self.style_grad_norm / max(identity_norm, 1e-12)
        scale = self.config.identity_balance * record["grad_ratio"]
        for module in (self.net.encoder, self.net.decoder):
            for p in module.parameters():
                p.grad.mul_(scale)

    @torch.no_grad()
    def write_samples(self) -> Path:
        """The held-out preview photo: original, reconstruction and every style trained; style images below."""
        self.net.eval()
        preview = resize_to_fit(to_tensor(load_image(self.config.preview)), self.config.image_size).to(self.device)
        batch = preview.unsqueeze(0)
        trained = range(self.frozen_styles, self.net.num_styles)
        tiles = [preview, self.net.reconstruct(batch)[0]] + [self.net(batch, i)[0] for i in trained]
        size = preview.shape[-2:]
        tiles += [torch.ones_like(preview)] * 2 + [
            torch.nn.functional.interpolate(s.unsqueeze(0), size=size, mode="bilinear", antialias=True)[0]
            for s in self.style_images]
        grid = image_grid([t.cpu() for t in tiles], columns=2 + len(trained))
        path = self.config.samples_dir / f"step_{self.step:07d}.png"
        with reported_write_errors(path, "the last checkpoint is intact"):
            return save_image(grid, path)

    def _request_stop(self, signum: int, frame: object) -> None:
        if self.stop_requested:  # a second Ctrl-C (or kill) stops at once
            raise KeyboardInterrupt
        self.stop_requested = True
        self.stop_signal = signum

    def clear_stale_temporaries(self) -> None:
        """Delete the temporary files that a run killed mid-write (SIGKILL, a power cut) left beside this run's
        outputs: only those of its own model, checkpoint and samples, never other files."""
        for path in (Path(self.config.output), self.config.checkpoint_path):
            remove_stale_temporaries(path.parent, re.escape(path.name))
        remove_stale_temporaries(self.config.samples_dir, r"step_\d+\.png")

    def run(self, progress: bool = True) -> Path:
        """Train until ``config.iterations``; Ctrl-C or SIGTERM saves a checkpoint and raises TrainingInterrupted."""
        config = self.config
        self.clear_stale_temporaries()
        # SIGTERM too: what `kill` and cluster schedulers send before they SIGKILL
        previous_handlers = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        log = open(config.log_path, "a")
        bar = tqdm(total=config.iterations, initial=self.step, disable=not progress, unit="it", dynamic_ncols=True)
        shown: dict[str, float] = {}
        started = time.perf_counter()
        try:
            while self.step < config.iterations:
                record = self.train_step()
                for key in ("content", "style", "tv", "psnr", "grad_ratio"):
                    if key in record:
                        shown[key] = record[key]
                if self.step % config.log_every == 0 or self.step == config.iterations:
                    record["lr"] = self.scheduler.get_last_lr()[0]
                    record["seconds"] = round(time.perf_counter() - started, 3)
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)
                bar.update(1)
                if self.step % config.sample_every == 0:
                    self.write_samples()
                if self.step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                if self.stop_requested:
                    self.save_checkpoint()
                    raise TrainingInterrupted(self.step, config.checkpoint_path, self.stop_signal)
        finally:
            bar.close()
            log.close()
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        self.save_checkpoint()
        self.write_samples()
        return self.save_model()


MAX_SKIPPED_IN_A_ROW = 10


class TrainingDiverged(StyleBankError):
    def __init__(self, step: int, in_a_row: int, checkpoint: Path):
        kept = f"the last checkpoint, {checkpoint}, is intact" if checkpoint.exists() else "no checkpoint was written"
        super().__init__(f"training stopped at iteration {step}: {in_a_row} steps in a row had a non-finite loss or "
                         f"gradient (skipped); {kept}. Try a lower --lr, --precision fp32, or other images")


class TrainingInterrupted(StyleBankError):
    def __init__(self, step: int, checkpoint: Path, signum: int | None = None):
        by = f" by {signal.Signals(signum).name}" if signum else ""
        super().__init__(f"interrupted{by} at iteration {step}; checkpoint saved to {checkpoint}; "
                         "run the same command with --resume to continue")
        self.step = step
        self.signum = signum or signal.SIGINT


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train a StyleBank model as ``config`` says and return the model file's path.

    ``resume``: continue from the output's checkpoint with its saved configuration; of ``config`` only the
    RESUMABLE_OVERRIDES are taken.
    """
    if resume:
        config = resumed_config(config.output, **{name: getattr(config, name) for name in RESUMABLE_OVERRIDES})
    return Trainer(config, resume=resume).run(progress=progress)


# What a resumed run may change; everything else comes from the checkpoint so that the run continues exactly.
# Changing the iterations or the learning-rate schedule continues with the new schedule from the saved step
# (e.g. a longer run, or an anneal for a run that has levelled off).
RESUMABLE_OVERRIDES = ("iterations", "lr", "lr_decay", "lr_decay_every", "lr_anneal",
                       "checkpoint_every", "sample_every", "log_every", "device")


def resumed_config(output: str | Path, **changes) -> TrainConfig:
    """The configuration saved in ``output``'s checkpoint, with ``changes``: any of RESUMABLE_OVERRIDES, and
    other settings only where they equal the saved ones (so the original command line + --resume works)."""
    checkpoint = TrainConfig(output=str(output)).checkpoint_path
    if not checkpoint.exists():
        raise StyleBankError(f"nothing to resume: {checkpoint} does not exist")
    saved = TrainConfig.from_dict(read_info(checkpoint, CHECKPOINT_FORMAT)["config"])
    fixed = sorted(name for name, value in changes.items()
                   if name not in RESUMABLE_OVERRIDES and value != getattr(saved, name))
    if fixed:
        options = ", ".join("--" + name.removesuffix("s" if name == "styles" else "").replace("_", "-")
                            for name in fixed)
        raise StyleBankError(f"{options} cannot change when resuming (the checkpoint fixes it); "
                             f"a resumed run may change only {', '.join(RESUMABLE_OVERRIDES)}")
    return replace(saved, **changes, output=str(output))


ADD_STYLE_ITERATIONS = 1000
# Only the new banks learn, so there is no shared E/D to protect: the paper's 0.01 learns a new style about 5x
# faster than the 1e-3 that joint training needs (benchmarks/incremental.py).
ADD_STYLE_LR = 0.01


def add_style_config(base_model: str | Path, styles: list[str], output: str | Path,
                     content: list[str] | None = None, **options) -> TrainConfig:
    """The add-style configuration: the base model's own training settings (content, sizes, loss weights, loss
    network), ADD_STYLE_ITERATIONS at ADD_STYLE_LR on the default schedule (the base run's anneal length was
    for its own iterations) and the default device and precision (the base run's were for its machine: bf16
    is many times slower than fp32 on a CPU without native bf16), then ``options`` (any TrainConfig field)."""
    info = read_info(base_model, MODEL_FORMAT)
    base = TrainConfig.from_dict(info.get("training") or {})
    config = replace(base, styles=list(styles), output=str(output), base_model=str(base_model),
                     content=list(content) if content else base.content, iterations=ADD_STYLE_ITERATIONS,
                     lr=ADD_STYLE_LR, lr_anneal=TrainConfig.lr_anneal, precision=TrainConfig.precision,
                     device=TrainConfig.device, vgg=info.get("loss_network") or base.vgg)
    return replace(config, **options)


def add_styles(base_model: str | Path, styles: list[str], output: str | Path, content: list[str] | None = None,
               resume: bool = False, progress: bool = True, **options) -> Path:
    """Incremental learning: train banks for ``styles`` on top of ``base_model``, its E, D and banks frozen.

    Returns the new model file, holding the old styles then the new ones. See ``add_style_config``.
    """
    config = add_style_config(base_model, styles, output, content, **options)
    return train(config, resume=resume, progress=progress)
