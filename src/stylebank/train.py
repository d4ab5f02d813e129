"""Training: the paper's Algorithm 1 as a plain loop, with checkpoints that truly resume.

Every T+1 iterations: T stylizing iterations (a batch of content crops, each with its own style index;
updates E, D and the banks used) then one auto-encoder iteration (updates E and D only), whose gradient is
rescaled to lambda times the magnitude of the last stylizing gradient on E and D. One shared Adam, whose
learning rate is computed from the step alone (``lr_factor``), so a resumed run needs nothing but the step.
Before that, ``warmup`` auto-encoder-only iterations (no VGG, cheap) give E and D a working reconstruction.
The configuration is ``stylebank.config.TrainConfig``.
"""

from __future__ import annotations

import copy
import json
import math
import re
import signal
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .atomic import atomic_write, remove_stale_temporaries
from .checkpoint import (MODEL_FORMAT, ModelFile, StylePixels, load_checkpoint, load_model, read_info,
                         recorded_style_pixels, save_checkpoint, save_model, to_pixels)
from .formats import model_history, run_summary, trained_style_size
from .config import RESUMABLE_OVERRIDES, TrainConfig, add_style_config, resumed_config
from .batches import StepBatch, StepBatches, default_workers, step_batches
from .board import Board
from .data import ContentImages, load_style_images, style_name
from .distributed import barrier, check_batch_split, from_environment, join, leave, process_device, summed
from .errors import StyleBankError, TrainingInterrupted
from .images import ImageNote, load_image, save_image
from .tensors import antialiased_resize, image_grid, resize_to_fit, to_pil, to_tensor
from .losses import LossWeights, StylizingLoss, identity_loss
from .metrics import psnr
from .lossnet import LossLayers, load_loss_network
from .model import StyleBankNet
from .runtime import autocast, resolve_device, training_dtype

STYLE, IDENTITY = "style", "identity"
MAX_SKIPPED_IN_A_ROW = 10  # non-finite steps in a row that stop training
LOGGED_TERMS = ("content", "style", "tv", "psnr", "grad_ratio")  # shown beside the progress bar

class TrainingNote(UserWarning):
    """Something the user should know that does not stop training (the command line shows it as a note)."""


class TrainingDiverged(StyleBankError):
    def __init__(self, step: int, in_a_row: int, checkpoint: Path):
        kept = f"the last checkpoint, {checkpoint}, is intact" if checkpoint.exists() else "no checkpoint was written"
        super().__init__(f"training stopped at iteration {step}: {in_a_row} steps in a row had a non-finite loss or "
                         f"gradient (skipped); {kept}. Try a lower --lr, --precision fp32, or other images")


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


def lr_factor(config: TrainConfig, warmup: int, step: int) -> float:
    """The learning rate of iteration ``step``, as a fraction of ``config.lr``: x lr_decay every lr_decay_every
    iterations; a linear ramp when the stylizing branch starts; a cosine to zero over the last
    ``anneal_iterations``.

    The ramp matters: Adam's moments were estimated on the small auto-encoder gradients, and its first
    full-size steps on the much larger stylizing gradients would wreck the freshly warmed-up E and D.
    The anneal lets the last iterations settle instead of ending on a noisy full-size step.
    """
    factor = config.lr_decay ** (step // config.lr_decay_every)
    if step >= warmup and config.lr_ramp:
        factor *= min(1.0, (step - warmup + 1) / config.lr_ramp)
    anneal_start = config.iterations - config.anneal_iterations
    if config.anneal_iterations and step >= anneal_start:
        factor *= 0.5 * (1 + math.cos(math.pi * (step - anneal_start) / config.anneal_iterations))
    return factor


def encoder_decoder_grad_norm(net: StyleBankNet) -> float:
    grads = [p.grad for m in (net.encoder, net.decoder) for p in m.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()


class Trainer:
    """Holds the training state; ``run()`` trains to ``config.iterations`` and writes the model file.

    ``base``: add-style's base model when it is already in memory (it is copied, never changed); otherwise
    add-style reads ``config.base_model``.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, base: ModelFile | None = None):
        config.validate()
        self.config = config
        # a model to start from is read first: a wrong file should not wait for the photos and the loss network
        start_model = read_start_model(config.init_from) if config.init_from and not resume else None
        self.set_up_process()
        # add-style: E, D and the base model's banks stay bit-identical; only the new banks learn
        self.adding_styles = config.base_model is not None
        self.warmup = 0 if self.adding_styles else config.warmup
        self.content = ContentImages(config.content, config.image_size, max_pixels=config.max_pixels,
                                     color_jitter=config.color_jitter)
        self.style_images = load_style_images(config.styles, config.style_size, config.max_pixels)
        new_pixels = [to_pixels(s) for s in self.style_images]
        self.loss_network = load_loss_network(config.vgg, self.device,
                                              LossLayers(config.content_layer, config.style_layers))
        self.criterion = StylizingLoss(self.loss_network, [s.to(self.device) for s in self.style_images],
                                       LossWeights(config.content_weight, config.style_weight, config.tv_weight))
        self.batches = StepBatches(self.content, config.seed, config.batch_size, len(config.styles),
                                   self.processes.rank, self.processes.world_size)
        # each process's losses count by its share of the global batch, so that the gradient DDP averages over
        # the processes is the global batch's mean, however it is split
        share = self.batches.part
        self.share_weight = (share.stop - share.start) * self.processes.world_size / config.batch_size
        self.noted: set[str] = set()  # unusable content files already named
        self.step = 0
        self.style_grad_norm: float | None = None
        self.skipped = self.skipped_in_a_row = 0  # steps with a non-finite loss or gradient
        self.since_logged: dict[str, dict[str, list[float]]] = {}  # branch -> term -> values, for the next log line
        self.stop_requested = False  # by a signal to this process
        self.stop_agreed = False  # by a signal to any process, as the processes agreed at the last step
        # made now: a missing tensorboard package is said before any time is spent
        self.board = Board(config.tensorboard if self.processes.is_main else None)
        self.stop_signal: int | None = None  # the signal that asked training to stop
        new_names = [style_name(s) for s in config.styles]
        if resume:
            net, optimizer_state, rng, info, base_pixels = load_checkpoint(config.checkpoint_path)
            self.base_style_count = info.get("frozen_styles", 0)  # the file's name for the base model's styles
            base_names, base_sources = self.check_resumed_styles(info, new_names)
        else:
            torch.manual_seed(config.seed)
            net, base_names, base_sources, base_pixels = self.starting_network(base, start_model, new_names,
                                                                               new_pixels)
            self.base_style_count = len(base_names)
            if net.num_styles == self.base_style_count:  # not --init-from's network, which has the run's banks
                net.bank.extend(net.new_bank() for _ in config.styles)
        self.net = net.to(self.device)
        if self.device.type == "cuda":  # the layout GPUs' convolution kernels are fastest in (the same values)
            self.net.to(memory_format=torch.channels_last)
        for module in (self.net.encoder, self.net.decoder, *self.net.bank[:self.base_style_count]):
            module.requires_grad_(not self.adding_styles)
        self.optimizer = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=config.lr)
        if resume:
            self.restore(optimizer_state, rng, info)
        self.model = self.training_forward()
        self.style_names = base_names + new_names
        self.style_sources = base_sources + list(config.styles)
        self.style_pixels = base_pixels[:self.base_style_count] + new_pixels

    def set_up_process(self) -> None:
        """This process's place among those training (torchrun's), its device (joining the process group), the
        autocast type and, for fp16, the gradient scaler."""
        self.processes = from_environment()
        check_batch_split(self.config.batch_size, self.processes)
        if self.processes.is_main:
            prepare_output_folder(Path(self.config.output))
        self.device = process_device(resolve_device(self.config.device), self.processes)
        if self.config.compile and self.device.type != "cuda":
            # torch 2.13's inductor fails on the CPU in this network's backward (a stride check in
            # replication_pad2d_backward), and compiling is for long GPU runs anyway
            raise StyleBankError("--compile is for training on a GPU (--device cuda); on the CPU, leave it out")
        join(self.processes, self.device)
        self.dtype = training_dtype(self.config.precision, self.device)
        # fp16's narrow range needs the loss scaled up before backward (and the gradients down after)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None
        if self.device.type == "cuda":  # TF32 for what runs in fp32 (the losses, fp32 runs): ~3x on Ampere+
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    def training_forward(self) -> torch.nn.Module:
        """The network as training calls it: in DDP where there are several processes (its backward averages
        the gradients over them; banks that no process used in a step keep no gradient, None, so Adam leaves
        them be), compiled if asked."""
        model = DistributedDataParallel(self.net, find_unused_parameters=True) \
            if self.processes.distributed else self.net
        return torch.compile(model) if self.config.compile else model

    def starting_network(self, base: ModelFile | None, start_model: ModelFile | None, new_names: list[str],
                         new_pixels: StylePixels) -> tuple[StyleBankNet, list[str], list[str | None], StylePixels]:
        """A fresh network with no styles, --init-from's network (with the run's styles), or add-style's base model
        (a copy); with the base model's style names, where their images came from and the images."""
        config = self.config
        if start_model is not None:
            return initial_network(start_model, config, new_names, new_pixels), [], [], []
        if not self.adding_styles:
            return StyleBankNet(0, config.network_config()), [], [], []
        # a model in memory is copied (never changed); one read from its file is ours already
        net, info, pixels = (copy.deepcopy(base.net), base.info, base.style_pixels) if base is not None \
            else load_model(config.base_model)
        taken = set(info["styles"]) & set(new_names)
        if taken:
            raise StyleBankError(f"{config.base_model} already has a style named {', '.join(sorted(taken))}; "
                                 "rename the style image or the existing style (stylebank styles --rename)")
        sources = list(info.get("style_images") or [None] * net.num_styles)
        base_style_size = trained_style_size(info)
        return net, list(info["styles"]), sources, recorded_style_pixels(pixels, sources, base_style_size)

    def check_resumed_styles(self, info: dict, new_names: list[str]) -> tuple[list[str], list[str | None]]:
        """The checkpoint's base styles and their images, once its trained styles are checked to be ours."""
        base_count = self.base_style_count
        if info["styles"][base_count:] != new_names:
            raise StyleBankError(f"{self.config.checkpoint_path} was trained on styles "
                                 f"{info['styles'][base_count:]}, not {new_names}")
        base_sources = info.get("style_images", [None] * base_count)[:base_count]
        return info["styles"][:base_count], base_sources

    def restore(self, optimizer_state: dict, rng: dict[str, torch.Tensor], info: dict) -> None:
        """Continue exactly where the checkpoint stopped: Adam's moments, the step, the RNG.

        (Checkpoints of earlier versions also hold a learning-rate scheduler's state, a style queue and a data
        RNG: the learning rate and the batches now follow from the step, so they are not needed.)
        """
        self.optimizer.load_state_dict(optimizer_state)
        self.step = info["step"]
        self.style_grad_norm = info["style_grad_norm"]
        self.skipped = info.get("skipped", 0)
        if self.scaler and info.get("grad_scaler"):
            self.scaler.load_state_dict(info["grad_scaler"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])

    def learning_rate(self, step: int) -> float:
        """The learning rate of iteration ``step`` (see lr_factor)."""
        return self.config.lr * lr_factor(self.config, self.warmup, step)

    def save_checkpoint(self) -> Path:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        info = {"step": self.step, "styles": self.style_names, "config": self.config.to_dict(),
                "style_grad_norm": self.style_grad_norm, "skipped": self.skipped,
                "grad_scaler": self.scaler.state_dict() if self.scaler else None,
                "loss_network": self.loss_network.source, "frozen_styles": self.base_style_count,
                "style_images": self.style_sources}
        with reported_write_errors(self.config.checkpoint_path, "the previous checkpoint is intact"):
            return save_checkpoint(self.config.checkpoint_path, self.net, self.optimizer, rng, info, self.style_pixels)

    def save_model(self) -> Path:
        training = {**self.config.to_dict(), "steps_done": self.step, "world_size": self.processes.world_size}
        trained = self.style_names[self.base_style_count:]
        training["history"] = self.earlier_history() + [run_summary(training, trained, self.loss_network.source)]
        with reported_write_errors(self.config.output, f"the checkpoint {self.config.checkpoint_path} holds the run"):
            return save_model(self.config.output, self.net, self.style_names, self.loss_network.source, training,
                              self.style_sources, self.style_pixels)

    def earlier_history(self) -> list[dict]:
        """The runs that made the model this one starts from (add-style's base, --init-from's model), read from
        its file when the model is written, so that a resumed run has them too."""
        start = self.config.base_model or self.config.init_from
        if not start or not Path(start).is_file():
            return []
        return model_history(read_info(start, MODEL_FORMAT))

    def train_step(self, batch: StepBatch | None = None) -> dict[str, float]:
        """One iteration of whichever branch the schedule says, on ``batch`` (default: this step's, made here);
        returns the logged numbers.

        A step whose loss or gradients are not finite changes nothing (it is counted and logged as skipped);
        MAX_SKIPPED_IN_A_ROW of them in a row stop training with TrainingDiverged.
        """
        config = self.config
        self.net.train()
        batch = self.checked(self.batches[self.step]) if batch is None else batch
        images = batch.images.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        branch = STYLE if self.adding_styles else branch_at(self.step, self.warmup, config.style_steps)
        # set_to_none: banks that get no gradient this step are skipped by Adam (not moved by momentum)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.dtype):
            if branch == STYLE:  # the batch counts the styles being trained, after the base's
                styles = batch.styles.to(self.device, non_blocking=True)
                output = self.model(images, styles + self.base_style_count)
                losses = self.criterion(output, images, styles)
            else:
                losses = {"identity": identity_loss(self.model(images), images)}
        backward = losses["total" if branch == STYLE else "identity"] * self.share_weight
        (self.scaler.scale(backward) if self.scaler else backward).backward()
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        record = self.agreed(losses)
        loss = record["total" if branch == STYLE else "identity"]
        if branch == IDENTITY:
            record["psnr"] = psnr(loss)
        if self.is_finite(loss):
            self.skipped_in_a_row = 0
            if branch == STYLE and not self.adding_styles:
                self.style_grad_norm = encoder_decoder_grad_norm(self.net)
            elif branch == IDENTITY and self.style_grad_norm is not None and self.step >= self.warmup:
                self.balance_identity_gradient(record)
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate(self.step)
            if self.scaler:
                self.scaler.step(self.optimizer)
            else:
                self.optimizer.step()
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped += 1
            # an fp16 overflow that a lower scale can cure is the scaler's search, not divergence
            self.skipped_in_a_row += not (self.scaler and math.isfinite(loss) and self.scaler.get_scale() >= 1)
            record["skipped"] = self.skipped
        if self.scaler:
            self.scaler.update()
        self.step += 1
        if self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
            raise TrainingDiverged(self.step, self.skipped_in_a_row, self.config.checkpoint_path)
        return {"step": self.step, "branch": branch, **record}

    def checked(self, batch: StepBatch) -> StepBatch:
        """``batch``, once the unusable files met in making it are named (each once); a StyleBankError where no
        file could be read."""
        for note in batch.notes:
            if note not in self.noted:
                self.noted.add(note)
                warnings.warn(f"skipping content image {note}", ImageNote, stacklevel=2)
        if batch.error:
            raise StyleBankError(batch.error)
        return batch

    def agreed(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        """The step's numbers as every process takes them: each loss term's mean over the global batch; and
        ``stop_agreed``, whether any process has been asked to stop (all stop after the same step)."""
        terms = [value.detach().float() * self.share_weight for value in losses.values()]
        asked = torch.tensor(float(self.stop_requested), device=self.device)
        totals = summed(torch.stack([*terms, asked]), self.processes).tolist()
        self.stop_agreed = totals[-1] > 0
        return {name: total / self.processes.world_size for name, total in zip(losses, totals)}

    def is_finite(self, loss: float) -> bool:
        grads = [p.grad for p in self.net.parameters() if p.grad is not None]
        return math.isfinite(loss) and bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))

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
        preview = resize_to_fit(to_tensor(load_image(self.config.preview, self.config.max_pixels)),
                                self.config.image_size).to(self.device)
        batch = preview.unsqueeze(0)
        trained = range(self.base_style_count, self.net.num_styles)
        tiles = [preview, self.net.reconstruct(batch)[0]] + [self.net(batch, i)[0] for i in trained]
        size = preview.shape[-2:]
        tiles += [torch.ones_like(preview)] * 2 + [
            antialiased_resize(s.unsqueeze(0), size)[0]
            for s in self.style_images]
        grid = image_grid([t.cpu() for t in tiles], columns=2 + len(trained))
        self.board.image(self.step, grid)
        path = self.config.samples_dir / f"step_{self.step:07d}.png"
        with reported_write_errors(path, "the last checkpoint is intact"):
            return save_image(to_pil(grid), path)

    def write_log_lines(self, log, started: float) -> None:
        """One JSON line per branch trained since the last ones: each term's mean over those iterations (a
        single sample would, with some periods of the alternation, only ever show one branch)."""
        common = {"skipped": self.skipped, "lr": self.learning_rate(self.step),  # the rate of the next iteration
                  "seconds": round(time.perf_counter() - started, 3), "world_size": self.processes.world_size}
        for branch, terms in self.since_logged.items():
            means = {key: sum(values) / len(values) for key, values in terms.items()}
            log.write(json.dumps({"step": self.step, "branch": branch, **means, **common}) + "\n")
            self.board.scalars(self.step, branch, {**means, "lr": common["lr"], "skipped": self.skipped})
        log.flush()
        self.since_logged = {}

    def _request_stop(self, signum: int, frame: object) -> None:
        # a second Ctrl-C (or kill) stops at once; under torchrun, whose own stop (SIGTERM, then SIGKILL 30 s
        # later) follows the terminal's Ctrl-C, the checkpoint is written first
        if self.stop_requested and not self.processes.under_torchrun:
            raise KeyboardInterrupt
        if not self.stop_requested:
            self.stop_signal = signum
        self.stop_requested = True

    def clear_stale_temporaries(self) -> None:
        """Delete the temporary files that a run killed mid-write (SIGKILL, a power cut) left beside this run's
        outputs: only those of its own model, checkpoint and samples, never other files."""
        for path in (Path(self.config.output), self.config.checkpoint_path):
            remove_stale_temporaries(path.parent, re.escape(path.name))
        remove_stale_temporaries(self.config.samples_dir, r"step_\d+\.png")

    def after_step(self, record: dict, log, bar: tqdm, shown: dict[str, float], started: float) -> None:
        """What follows an iteration: the log lines, the progress bar, samples, checkpoints (all written by the
        main process alone), a stop that a process was asked for."""
        config = self.config
        if self.processes.is_main:
            shown.update({key: record[key] for key in LOGGED_TERMS if key in record})
            terms = self.since_logged.setdefault(record["branch"], {})
            for key, value in record.items():
                if key not in ("step", "branch", "skipped") and math.isfinite(value):  # a skipped step is counted
                    terms.setdefault(key, []).append(value)
            if self.step % config.log_every == 0 or self.step == config.iterations:
                self.write_log_lines(log, started)
                bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)
            bar.update(1)
            if self.step % config.sample_every == 0:
                self.write_samples()
            if self.step % config.checkpoint_every == 0 or self.stop_agreed:
                self.save_checkpoint()
        if self.stop_agreed:
            barrier(self.processes)  # no process ends (and has torchrun stop the rest) before the checkpoint is written
            raise TrainingInterrupted(self.step, config.checkpoint_path, self.stop_signal)

    def run(self, progress: bool = True) -> Path:
        """Train until ``config.iterations``; Ctrl-C or SIGTERM saves a checkpoint and raises TrainingInterrupted."""
        config = self.config
        main = self.processes.is_main
        if main:
            self.clear_stale_temporaries()
        # SIGTERM too: what `kill` and cluster schedulers send before they SIGKILL
        previous_handlers = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        if main:
            log_up_to(config.log_path, self.step)
        log = open(config.log_path, "a") if main else None
        bar = tqdm(total=config.iterations, initial=self.step, disable=not (progress and main), unit="it",
                   dynamic_ncols=True)
        shown: dict[str, float] = {}
        started = time.perf_counter()
        workers = default_workers() if config.workers is None else config.workers
        try:
            for batch in step_batches(self.batches, self.step, config.iterations, workers,
                                      pin_memory=self.device.type == "cuda"):
                self.after_step(self.train_step(self.checked(batch)), log, bar, shown, started)
            if main:
                self.save_checkpoint()
                self.write_samples()
                self.save_model()
        finally:
            bar.close()
            if log:
                log.close()
            self.board.close()
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        barrier(self.processes)  # the model is written when any process returns
        return Path(config.output)


def read_start_model(path: str) -> ModelFile:
    """``--init-from``'s model file; what is wrong with it is said naming the option."""
    try:
        return load_model(path)
    except StyleBankError as error:
        raise StyleBankError(f"--init-from {error}") from None


def initial_network(model: ModelFile, config: TrainConfig, style_names: list[str],
                    style_pixels: StylePixels) -> StyleBankNet:
    """``--init-from``: a network of the run's shape holding ``model``'s weights, to train further (at another
    size, on more photos…). Its styles must be the run's, in order, and its network the run's shape; a model of the
    paper's exposure layout may start a ``carry`` run, whose exposure layer starts at zero, which is the paper's
    decoder exactly. A style whose stored image differs from the run's is trained on the run's, with a note."""
    if model.info["styles"] != style_names:
        raise StyleBankError(f"--init-from {config.init_from} has the styles {', '.join(model.info['styles'])}; "
                             f"the run trains {', '.join(style_names)} (give the same style images, in order)")
    net = StyleBankNet(len(style_names), config.network_config())
    start, run = model.net.config, net.config
    upgrade = (start.exposure, run.exposure) == ("paper", "carry")
    if replace(start, exposure=run.exposure) != run or not (start.exposure == run.exposure or upgrade):
        raise StyleBankError(f"--init-from {config.init_from} has the network {start.to_dict()}; the run's is "
                             f"{run.to_dict()} (only the exposure layout may change, from paper to carry)")
    for name, stored, pixels in zip(style_names, model.style_pixels, style_pixels):
        if stored is not None and stored.shape == pixels.shape and not torch.equal(stored, pixels):
            warnings.warn(f"style {name}: its image is not the one {config.init_from} was trained with; the run "
                          "trains the bank towards the image given now", TrainingNote, stacklevel=4)
    missing, unexpected = net.load_state_dict(model.net.state_dict(), strict=False)
    assert not unexpected and all(name.startswith("decoder.exposure.") for name in missing), (missing, unexpected)
    return net


def log_up_to(path: Path, step: int) -> None:
    """Drop the log's lines after ``step``: those of a run that went on past its last checkpoint, which the
    resumed run trains (and logs) again, and a line cut short by a killed process."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and logged_step(line) <= step]
    if len(kept) < len(lines):
        atomic_write(path, lambda file: file.write("".join(kept).encode()))


def logged_step(line: str) -> float:
    """The step of a log line; infinity for a line that is not JSON (dropped with what follows the checkpoint)."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return math.inf


def can_resume(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` exists to resume from; where it does not (a run killed during start-up, a cluster
    job requeued), a TrainingNote says that training starts from the beginning."""
    if checkpoint.exists():
        return True
    warnings.warn(f"nothing to resume yet ({checkpoint} does not exist): starting from the beginning", TrainingNote,
                  stacklevel=3)
    return False


def train(config: TrainConfig, resume: bool = False, progress: bool = True, base: ModelFile | None = None) -> Path:
    """Train a StyleBank model as ``config`` says and return the model file's path.

    ``resume``: continue from the output's checkpoint with its saved configuration; of ``config`` only the
    RESUMABLE_OVERRIDES are taken. Where no checkpoint was written yet (a run killed during start-up, a cluster
    job requeued), training starts from the beginning with a TrainingNote.
    """
    resume = resume and can_resume(config.checkpoint_path)
    if resume:
        config = resumed_config(config.output, **{name: getattr(config, name) for name in RESUMABLE_OVERRIDES})
    try:
        return Trainer(config, resume=resume, base=base).run(progress=progress)
    finally:
        leave()


def add_styles(base_model: str | Path | ModelFile, styles: list[str], output: str | Path,
               content: list[str] | None = None, resume: bool = False, progress: bool = True, **options) -> Path:
    """Incremental learning: train banks for ``styles`` on top of ``base_model`` (a model file, or one already in
    memory), its E, D and banks frozen.

    Returns the new model file, holding the old styles then the new ones. ``options`` are TrainConfig fields;
    the defaults are those of ``stylebank.config.add_style_config``.
    """
    if isinstance(base_model, ModelFile):
        base, base_info, base_name = base_model, base_model.info, "(a model in memory)"
    else:
        base, base_info, base_name = None, read_info(base_model, MODEL_FORMAT), str(base_model)
    config = add_style_config(base_info, base_name, styles, output, content, **options)
    return train(config, resume=resume, progress=progress, base=base)
