"""Styles that a studio user adds: each learned by quick add-style (stylebank.training.quick_style) in a background
thread, one at a time, into a copy of the served model kept in memory. The model file on disk never changes; the user
downloads each new style as a style file (``stylebank import-style`` adds it to a model file)."""

from __future__ import annotations

import copy
import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from ..config import QuickStyleConfig, TrainConfig, base_content_found
from ..errors import StyleBankError
from ..images import load_image
from ..backends.stylizer import Stylizer
from .limits import Rejected

if TYPE_CHECKING:
    from ..checkpoint import ModelFile

# PyTorch is imported when a style is added, not with the server: one serving ONNX Runtime may never need it

log = logging.getLogger("stylebank.web")
STOP_WAIT_SECONDS = 60  # how long a stopping server waits for the style being learned to stop (a step, or set-up)
NAME_PATTERN = re.compile(r"[\w][\w \-]{0,39}")  # letters, digits, spaces, - and _; 40 at most


class LearningStopped(StyleBankError):
    """The server stopped while a style was being learned."""


@dataclass
class LearningJob:
    """One style being learned, as /api/jobs/{id} reports it."""

    name: str
    budget_seconds: float | None
    state: str = "learning"  # then "done" or "failed"
    progress: float = 0.0  # of the training budget, after set-up
    started: float = field(default_factory=time.monotonic)
    index: int | None = None  # the new style's, once done
    error: str | None = None

    def to_json(self) -> dict:
        elapsed = time.monotonic() - self.started
        left = None
        if self.state == "learning" and self.progress > 0:
            left = round(elapsed / self.progress * (1 - self.progress))
        elif self.state == "learning":
            left = self.budget_seconds
        return {"name": self.name, "state": self.state, "progress": round(self.progress, 3), "seconds_left": left,
                "index": self.index, "error": self.error}


class StyleLearning:
    """Learns the styles users add to the served model; ``on_learned`` gets the extended PyTorch model."""

    def __init__(self, stylizer: Stylizer, config: QuickStyleConfig, on_learned: Callable[[Stylizer], None]):
        self.config = config
        self.on_learned = on_learned
        self.served = stylizer
        self.model: ModelFile | None = None  # the model with the styles learned so far
        self.jobs: dict[str, LearningJob] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def base(self) -> ModelFile:
        """A copy of the model to extend: the one with the styles learned so far, or the served model's."""
        from ..checkpoint import ModelFile, load_model

        if self.model is None:
            net = getattr(self.served, "net", None)
            if net is not None:
                self.model = ModelFile(net, self.served.info, self.served.style_pixels)
            else:
                path = Path(str(self.served.path or ""))
                if path.suffix != ".safetensors" or not path.is_file():
                    raise Rejected(409, "adding styles needs the model's .safetensors file: serve it with -m "
                                        "MODEL.safetensors")
                self.model = load_model(path)
        return ModelFile(copy.deepcopy(self.model.net), copy.deepcopy(self.model.info),
                         list(self.model.style_pixels))

    def start(self, image: bytes, name: str, styles: list[str], max_pixels: int) -> str:
        """Start learning the style of ``image`` as ``name``; refused (Rejected) before any work for a bad name or
        image, a model that cannot learn here, or while another style is being learned."""
        from ..tensors import resize_longer_side, to_tensor

        if not NAME_PATTERN.fullmatch(name):
            raise Rejected(400, "a style's name is 1 to 40 letters, digits, spaces, - or _, starting with a letter "
                                f"or digit; got {name[:40]!r}")
        if name in styles:
            raise Rejected(400, f"the model already has a style named {name!r}; choose another name")
        with self.lock:
            if self.stopping.is_set():
                raise Rejected(503, "the server is stopping")
            if any(job.state == "learning" for job in self.jobs.values()):
                raise Rejected(409, "a style is being learned; add the next one when it is done")
            base = self.base()
            training = TrainConfig.from_dict(base.info.get("training") or {})
            base_content_found(training.content, "the served model")
            picture = resize_longer_side(to_tensor(load_image("the uploaded style image", max_pixels, data=image)),
                                         training.style_size)
            job_id = uuid.uuid4().hex
            self.jobs[job_id] = LearningJob(name, None if self.config.steps else self.config.seconds)
            self.thread = threading.Thread(target=self.learn, args=(job_id, base, {f"{name}.png": picture}),
                                           daemon=True)
            self.thread.start()
        return job_id

    def stop(self) -> None:
        """Stop the style being learned, if any, at its next step, and wait for it: a process that exits while
        PyTorch works in another thread dies with "terminate called without an active exception"."""
        self.stopping.set()
        with self.lock:
            thread = self.thread
        if thread is not None:
            thread.join(STOP_WAIT_SECONDS)

    def progressed(self, job: LearningJob, done: float) -> None:
        """The learning's report after each step: record the progress, or end the learning when stopping."""
        if self.stopping.is_set():
            raise LearningStopped("the server stopped before the style was learned")
        job.progress = done

    def learn(self, job_id: str, base: ModelFile, style_images: dict) -> None:
        import torch

        from ..backends.pytorch import StyleBankModel
        from ..training.quick_style import learn_new_styles

        job = self.jobs[job_id]
        try:
            model = learn_new_styles(base, "the served model", style_images, None, self.config,
                                     report=lambda done: self.progressed(job, done))
        except StyleBankError as error:  # the user's image or photos, or a stop: said in the job, one line in the log
            log.warning("learning style %r failed: %s", job.name, error)
            job.error, job.state = str(error), "failed"
            return
        except Exception as error:  # a bug: the job says so, the log has the traceback, and the server goes on
            log.exception("learning style %r failed", job.name)
            job.error, job.state = f"internal error ({type(error).__name__}); see the server's log", "failed"
            return
        with self.lock:
            self.model = model
            self.on_learned(StyleBankModel(model.net, model.info, torch.device("cpu"),
                                           self.served.path, model.style_pixels))
            job.index, job.progress, job.state = len(model.info["styles"]) - 1, 1.0, "done"

    def status(self, job_id: str) -> dict:
        job = self.jobs.get(job_id)
        if job is None:
            raise Rejected(404, f"no job {job_id[:40]!r}")
        return job.to_json()


def style_file_bytes(stylizer: Stylizer, index: int) -> bytes:
    """Style ``index`` as a style file (safetensors), from a PyTorch model."""
    if not hasattr(stylizer, "export_style"):
        raise Rejected(404, "style files come from the PyTorch model: serve the .safetensors model with "
                            "--backend torch, or add a style first")
    with tempfile.TemporaryDirectory() as folder:
        path = stylizer.export_style(index, Path(folder) / "style.safetensors")
        return path.read_bytes()
