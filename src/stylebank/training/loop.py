"""Training: the paper's Algorithm 1 as a plain loop, with checkpoints that truly resume.

Every T+1 iterations: T stylizing iterations (a batch of content crops, each with its own style index;
updates E, D and the banks used) then one auto-encoder iteration (updates E and D only), whose gradient is
rescaled to lambda times the magnitude of the last stylizing gradient on E and D. One shared Adam, whose
learning rate is computed from the step alone (``schedule.lr_factor``), so a resumed run needs nothing but the
step. Before that, ``warmup`` auto-encoder-only iterations (no VGG, cheap) give E and D a working reconstruction.
The configuration is ``stylebank.config.TrainConfig``; how a run starts is ``start``, what it reports ``report``.
"""

from __future__ import annotations

import math
import re
import signal
import warnings
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from ..atomic import remove_stale_temporaries
from ..checkpoint import MODEL_FORMAT, ModelFile, read_info, save_checkpoint, save_model, to_pixels
from ..config import RESUMABLE_OVERRIDES, TrainConfig, add_style_config
from ..errors import StyleBankError, TrainingInterrupted
from ..formats import model_history, run_summary
from ..images import ImageNote
from ..losses import LossWeights, StylizingLoss, blob_noise, identity_loss, shift_loss, shifted_pair
from ..lossnet import LossLayers, load_loss_network
from ..metrics import psnr
from ..model import StyleBankNet
from ..runtime import autocast
from .batches import StepBatch, StepBatches, default_workers, step_batches
from .data import ContentImages, load_style_images, style_name
from .distributed import barrier, leave, summed
from .report import TrainingReport, reported_write_errors
from .schedule import IDENTITY, STYLE, branch_at, lr_factor, noise_at, shift_at
from .start import read_start_model, restore, resumed_run, set_up_process, starting_point

MAX_SKIPPED_IN_A_ROW = 10  # non-finite steps in a row that stop training


class TrainingDiverged(StyleBankError):
    def __init__(self, step: int, in_a_row: int, checkpoint: Path):
        kept = f"the last checkpoint, {checkpoint}, is intact" if checkpoint.exists() else "no checkpoint was written"
        super().__init__(f"training stopped at iteration {step}: {in_a_row} steps in a row had a non-finite loss or "
                         f"gradient (skipped); {kept}. Try a lower --lr, --precision fp32, or other images")


def encoder_decoder_grad_norm(net: StyleBankNet) -> float:
    grads = [p.grad for m in (net.encoder, net.decoder) for p in m.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()


class Trainer:
    """Holds the training state; ``run()`` trains to ``config.iterations`` and writes the model file.

    ``resume``: continue from the output's checkpoint (``config`` is then the resumed one: see ``train``).
    ``base``: add-style's base model when it is already in memory (it is copied, never changed); otherwise
    add-style reads ``config.base_model``.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, base: ModelFile | None = None):
        config.validate()
        self.config = config
        # a model to start from is read first: a wrong file should not wait for the photos and the loss network
        start_model = read_start_model(config.init_from) if config.init_from and not resume else None
        self.processes, self.device, self.dtype, self.scaler = set_up_process(config)
        # add-style: E, D and the base model's banks stay bit-identical; only the new banks learn
        self.adding_styles = config.base_model is not None
        self.warmup = 0 if self.adding_styles else config.warmup
        self.set_up_data_and_loss()
        self.noted: set[str] = set()  # unusable content files already named
        self.step = self.skipped = self.skipped_in_a_row = 0  # skipped: steps with a non-finite loss or gradient
        self.style_grad_norm: float | None = None
        self.stop_requested = False  # by a signal to this process
        self.stop_agreed = False  # by a signal to any process, as the processes agreed at the last step
        self.stop_signal: int | None = None  # the signal that asked training to stop
        self.report = TrainingReport(config, self.processes.is_main, self.processes.world_size)
        new_names = [style_name(s) for s in config.styles]
        new_pixels = [to_pixels(s) for s in self.style_images]
        start = starting_point(config, resume, base, start_model, new_names, new_pixels)
        self.base_style_count = len(start.base_names)
        self.net = start.net.to(self.device)
        if self.device.type == "cuda":  # the layout GPUs' convolution kernels are fastest in (the same values)
            self.net.to(memory_format=torch.channels_last)
        for module in (self.net.encoder, self.net.decoder, *self.net.bank[:self.base_style_count]):
            module.requires_grad_(not self.adding_styles)
        self.optimizer = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=config.lr)
        if start.saved is not None:
            restore(start.saved, self.optimizer, self.scaler)
            info = start.saved.info
            self.step, self.style_grad_norm = info["step"], info["style_grad_norm"]
            self.skipped = info.get("skipped", 0)
        self.model = self.training_forward()
        self.style_names = start.base_names + new_names
        self.style_sources = start.base_sources + list(config.styles)
        self.style_pixels = start.base_pixels[:self.base_style_count] + new_pixels

    def set_up_data_and_loss(self) -> None:
        """The content photos, the style images, the loss network and criterion, and the step batches (this
        process's part of each)."""
        config = self.config
        self.content = ContentImages(config.content, config.image_size, max_pixels=config.max_pixels,
                                     color_jitter=config.color_jitter)
        self.style_images = load_style_images(config.styles, config.style_size, config.max_pixels)
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

    def training_forward(self) -> torch.nn.Module:
        """The network as training calls it: in DDP where there are several processes (its backward averages
        the gradients over them; banks that no process used in a step keep no gradient, None, so Adam leaves
        them be), compiled if asked."""
        model = DistributedDataParallel(self.net, find_unused_parameters=True) \
            if self.processes.distributed else self.net
        return torch.compile(model) if self.config.compile else model

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
                losses = self.stylizing_losses(images, styles)
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

    def stylizing_losses(self, images: torch.Tensor, styles: torch.Tensor) -> dict[str, torch.Tensor]:
        """The stylizing branch's losses on ``images`` in ``styles`` (counted from the first style this run
        trains). With a shift weight, the network also stylizes the crops moved by shift_at's few pixels (with
        ``shift_noise``, noise added), in the same call (DDP allows one forward per backward): both at the largest
        multiple of 4 that leaves room for the shift, and the first ones are what the perceptual losses judge."""
        bank = styles + self.base_style_count
        if not self.config.shift_weight:
            return self.criterion(self.model(images, bank), images, styles)
        down, right = shift_at(self.config.seed, self.step)
        here, there = shifted_pair(images, down, right)
        if self.config.shift_noise:  # each process its own noise, the same again when resumed
            blob, seed = noise_at(self.config.seed, self.step)
            noise = blob_noise(there.shape, blob, self.config.shift_noise / 255, seed + self.processes.rank)
            there = (there + noise.to(there.device, there.dtype)).clamp(0, 1)
        output, moved = self.model(torch.cat([here, there]), torch.cat([bank, bank])).split(len(images))
        losses = self.criterion(output, here, styles)
        losses["shift"] = shift_loss(output, moved, down, right)
        losses["total"] = losses["total"] + self.config.shift_weight * losses["shift"]
        return losses

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
        """The preview photo in every style this run trains (see TrainingReport.write_samples)."""
        return self.report.write_samples(self.net, self.step, range(self.base_style_count, self.net.num_styles),
                                         self.style_images, self.device)

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

    def after_step(self, record: dict) -> None:
        """What follows an iteration: the log lines, the progress bar, samples, checkpoints (all written by the
        main process alone), a stop that a process was asked for."""
        config = self.config
        if self.processes.is_main:
            self.report.add(record, self.skipped, self.learning_rate(self.step))  # the rate of the next iteration
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
        self.report.start(self.step, progress)
        workers = default_workers() if config.workers is None else config.workers
        try:
            for batch in step_batches(self.batches, self.step, config.iterations, workers,
                                      pin_memory=self.device.type == "cuda"):
                self.after_step(self.train_step(self.checked(batch)))
            if main:
                self.save_checkpoint()
                self.write_samples()
                self.save_model()
        finally:
            self.report.close()
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        barrier(self.processes)  # the model is written when any process returns
        return Path(config.output)


def train(config: TrainConfig, resume: bool = False, progress: bool = True, base: ModelFile | None = None) -> Path:
    """Train a StyleBank model as ``config`` says and return the model file's path.

    ``resume``: continue from the output's checkpoint with its saved configuration; of ``config`` only the
    RESUMABLE_OVERRIDES are taken. Where no checkpoint was written yet (a run killed during start-up, a cluster
    job requeued), training starts from the beginning with a TrainingNote.
    """
    resumed = resumed_run(config.output, resume, {name: getattr(config, name) for name in RESUMABLE_OVERRIDES})
    return run_training(resumed or config, resumed is not None, progress, base)


def run_training(config: TrainConfig, resume: bool, progress: bool = True, base: ModelFile | None = None) -> Path:
    """Train with the run's configuration already decided (``resume``: it is the checkpoint's; see
    start.resumed_run, which ``train`` and the command line call once)."""
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
