"""How a training run starts: this process's place and device, the configuration it resumes with, and the network
it starts from (fresh, ``--init-from``'s, add-style's base model, or its own checkpoint, restored exactly)."""

from __future__ import annotations

import copy
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import torch

from ..checkpoint import Checkpoint, ModelFile, StylePixels, load_checkpoint, load_model, recorded_style_pixels
from ..config import TrainConfig, checkpoint_path, resumed_config
from ..errors import StyleBankError
from ..formats import trained_style_size
from ..model import StyleBankNet
from ..runtime import resolve_device, training_dtype
from .distributed import Processes, check_batch_split, from_environment, join, process_device


class TrainingNote(UserWarning):
    """Something the user should know that does not stop training (the command line shows it as a note)."""


def can_resume(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` exists to resume from; where it does not (a run killed during start-up, a cluster
    job requeued), a TrainingNote says that training starts from the beginning."""
    if checkpoint.exists():
        return True
    warnings.warn(f"nothing to resume yet ({checkpoint} does not exist): starting from the beginning", TrainingNote,
                  stacklevel=4)
    return False


def resumed_run(output: str | Path, resume: bool, changes: dict) -> TrainConfig | None:
    """The one decision on resuming: the configuration a run at ``output`` resumes with (its checkpoint's, with
    ``changes``; see config.resumed_config), or None where it starts from the beginning (not asked to resume, or
    nothing to resume yet, said with a TrainingNote)."""
    if not (resume and can_resume(checkpoint_path(output))):
        return None
    return resumed_config(output, **changes)


class ProcessSetup(NamedTuple):
    """This process's place among those training, its device, the compute type and (fp16) the gradient scaler."""

    processes: Processes
    device: torch.device
    dtype: torch.dtype
    scaler: torch.amp.GradScaler | None


def set_up_process(config: TrainConfig) -> ProcessSetup:
    """This process's place among those training (torchrun's), its device (joining the process group), the
    autocast type and, for fp16, the gradient scaler; the output folder checked by the main process."""
    processes = from_environment()
    check_batch_split(config.batch_size, processes)
    if processes.is_main:
        prepare_output_folder(Path(config.output))
    device = process_device(resolve_device(config.device), processes)
    if config.compile and device.type != "cuda":
        # torch 2.13's inductor fails on the CPU in this network's backward (a stride check in
        # replication_pad2d_backward), and compiling is for long GPU runs anyway
        raise StyleBankError("--compile is for training on a GPU (--device cuda); on the CPU, leave it out")
    join(processes, device)
    dtype = training_dtype(config.precision, device)
    # fp16's narrow range needs the loss scaled up before backward (and the gradients down after)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    if device.type == "cuda":  # TF32 for what runs in fp32 (the losses, fp32 runs): ~3x on Ampere+
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return ProcessSetup(processes, device, dtype, scaler)


def prepare_output_folder(output: Path) -> None:
    """Create the model's folder and check that it is writable before any time is spent training."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output.parent):
            pass
    except OSError as error:
        raise StyleBankError(f"cannot write to {output.parent}: {error.strerror or error}") from None


class StartingPoint(NamedTuple):
    """The network a run starts from, with the styles it already has (add-style's base model's: names, where
    their images came from, the images) and, for a resumed run, its checkpoint."""

    net: StyleBankNet
    base_names: list[str]
    base_sources: list[str | None]
    base_pixels: StylePixels
    saved: Checkpoint | None


def starting_point(config: TrainConfig, resume: bool, base: ModelFile | None, start_model: ModelFile | None,
                   new_names: list[str], new_pixels: StylePixels) -> StartingPoint:
    """The run's checkpoint when it resumes; else a fresh network (seeded), --init-from's network (with the run's
    styles), or add-style's base model (a copy), with new banks for the run's styles."""
    if resume:
        saved = load_checkpoint(config.checkpoint_path)
        base_names, base_sources = resumed_styles(config, saved.info, new_names)
        return StartingPoint(saved.net, base_names, base_sources, saved.style_pixels, saved)
    torch.manual_seed(config.seed)
    if start_model is not None:
        return StartingPoint(initial_network(start_model, config, new_names, new_pixels), [], [], [], None)
    if config.base_model is None:
        net = StyleBankNet(0, config.network_config())
        base_names, base_sources, base_pixels = [], [], []
    else:
        net, base_names, base_sources, base_pixels = base_network(config, base, new_names)
    net.bank.extend(net.new_bank() for _ in config.styles)
    return StartingPoint(net, base_names, base_sources, base_pixels, None)


def base_network(config: TrainConfig, base: ModelFile | None,
                 new_names: list[str]) -> tuple[StyleBankNet, list[str], list[str | None], StylePixels]:
    """add-style's base model (a model in memory is copied, never changed; one read from its file is ours
    already), its style names, where their images came from and the images."""
    net, info, pixels = (copy.deepcopy(base.net), base.info, base.style_pixels) if base is not None \
        else load_model(config.base_model)
    taken = set(info["styles"]) & set(new_names)
    if taken:
        raise StyleBankError(f"{config.base_model} already has a style named {', '.join(sorted(taken))}; "
                             "rename the style image or the existing style (stylebank styles --rename)")
    sources = list(info.get("style_images") or [None] * net.num_styles)
    return net, list(info["styles"]), sources, recorded_style_pixels(pixels, sources, trained_style_size(info))


def resumed_styles(config: TrainConfig, info: dict, new_names: list[str]) -> tuple[list[str], list[str | None]]:
    """The checkpoint's base styles and where their images came from, once its trained styles are checked to be
    the run's."""
    base_count = info.get("frozen_styles", 0)  # the file's name for the base model's styles
    if info["styles"][base_count:] != new_names:
        raise StyleBankError(f"{config.checkpoint_path} was trained on styles "
                             f"{info['styles'][base_count:]}, not {new_names}")
    return info["styles"][:base_count], info.get("style_images", [None] * base_count)[:base_count]


def restore(saved: Checkpoint, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    """Continue exactly where the checkpoint stopped: Adam's moments, the gradient scale, the RNG (the step and
    the counters are the checkpoint's info).

    (Checkpoints of earlier versions also hold a learning-rate scheduler's state, a style queue and a data
    RNG: the learning rate and the batches now follow from the step, so they are not needed.)
    """
    optimizer.load_state_dict(saved.optimizer_state)
    if scaler and saved.info.get("grad_scaler"):
        scaler.load_state_dict(saved.info["grad_scaler"])
    torch.set_rng_state(saved.rng["torch"])
    if "cuda" in saved.rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(saved.rng["cuda"])


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
                          "trains the bank towards the image given now", TrainingNote, stacklevel=5)
    missing, unexpected = net.load_state_dict(model.net.state_dict(), strict=False)
    assert not unexpected and all(name.startswith("decoder.exposure.") for name in missing), (missing, unexpected)
    return net
