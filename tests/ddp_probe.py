"""A few training steps that write down the gradients Adam used at each, per process: run under torchrun by
test_distributed.py (``python -m torch.distributed.run ... tests/ddp_probe.py CONFIG_JSON FOLDER``), and in one
process by the test itself, to compare."""

import json
import sys
from pathlib import Path

from safetensors.torch import save_file

from stylebank.config import TrainConfig
from stylebank.training.distributed import leave
from stylebank.training.loop import Trainer


def record_gradients(config: TrainConfig, folder: Path) -> None:
    """``config.iterations`` steps; after each, ``step{K}_rank{R}.safetensors`` holds every parameter's gradient
    (a parameter without one is absent) and ``weights{K}_rank{R}.safetensors`` the weights."""
    trainer = Trainer(config)
    rank = trainer.processes.rank
    for step in range(config.iterations):
        trainer.train_step()
        save_file({name: p.grad.contiguous() for name, p in trainer.net.named_parameters() if p.grad is not None},
                  folder / f"step{step}_rank{rank}.safetensors")
        save_file({name: p.detach().contiguous() for name, p in trainer.net.named_parameters()},
                  folder / f"weights{step}_rank{rank}.safetensors")


if __name__ == "__main__":
    try:
        record_gradients(TrainConfig(**json.loads(sys.argv[1])), Path(sys.argv[2]))
    finally:
        leave()
