"""The mutation check: break the package on purpose, one place at a time, and see whether the tests notice.

Each mutant below is a small change to one line of src/stylebank that a user would feel (resume no longer exact,
a style that never learns, colours not kept...). For each one this script copies src/ and tests/ to a scratch
folder, applies the change there (the checkout is never touched), runs the tests that guard that behaviour,
and reports the mutant as caught (some test failed) or survived (all passed: a hole in the suite).

    python scripts/mutants.py                     # all mutants, then the score; exit 1 if any survived
    python scripts/mutants.py --list              # names and what each one breaks
    python scripts/mutants.py lambda-balance ...  # only these
    python scripts/mutants.py --json result.json  # also write the outcome per mutant
    python scripts/mutants.py --root OTHER_CHECKOUT  # score another checkout's tests (e.g. an older commit)
    python scripts/mutants.py --report A.json B.json # markdown: the outcomes of saved runs side by side

First the selected tests run once unmutated: a mutant is only "caught" by tests that pass without it. A
selection that matches no test catches nothing; a mutant whose line is not in the code is reported as stale.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scratch_copy import NO_TESTS, check_imports_the_copy, copy_tree, run_tests


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # under src/stylebank/
    original: str  # must occur exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # pytest arguments: files, node ids, -k expressions
    breaks: str  # what a user would lose


MUTANTS = [
    # training and resume
    Mutant("resume-replays-batches", "training/loop.py", "step_batches(self.batches, self.step, config.iterations",
           "step_batches(self.batches, 0, config.iterations", ("tests/test_train.py", "-k", "resume"),
           "a resumed run trains on the first steps' crops and styles again"),
    Mutant("batch-not-from-step", "training/batches.py", "stream(self.seed, step, CROP_STREAM)",
           "stream(self.seed, 0, CROP_STREAM)", ("tests/test_train.py", "-k", "batch"),
           "every step trains on the same crops"),
    Mutant("shares-overlap", "training/batches.py", "slice(rank * batch_size // world_size,", "slice(0,",
           ("tests/test_train.py", "tests/test_distributed.py", "-k", "batch or steps"),
           "processes train on overlapping parts of the batch"),
    Mutant("ddp-not-wrapped", "training/loop.py", "if self.processes.distributed else self.net", "if False else self.net",
           ("tests/test_distributed.py", "-k", "steps"), "each process of a torchrun job trains a model of its own"),
    Mutant("ddp-unused-banks-zeroed", "training/loop.py", "self.optimizer.zero_grad(set_to_none=True)\n        with autocast",
           "self.optimizer.zero_grad(set_to_none=False)\n        with autocast", ("tests/test_distributed.py", "-k", "steps"),
           "Adam's momentum moves banks that no process used in a step"),
    Mutant("resume-grad-scaler", "training/start.py", 'scaler.load_state_dict(saved.info["grad_scaler"])', "pass",
           ("tests/test_scale.py", "-k", "resumes"), "a resumed fp16 run starts its loss scale search again"),
    Mutant("fp16-overflow-is-divergence", "training/loop.py",
           "self.skipped_in_a_row += not (self.scaler and math.isfinite(loss) and self.scaler.get_scale() >= 1)",
           "self.skipped_in_a_row += 1", ("tests/test_scale.py", "-k", "overflows"),
           "an fp16 run stops as diverged while its gradient scaler is still finding its scale"),
    Mutant("torchrun-second-signal-aborts", "training/loop.py", "if self.stop_requested and not self.processes.under_torchrun:",
           "if self.stop_requested:", ("tests/test_distributed.py", "-k", "ctrl_c or second"),
           "Ctrl-C on a torchrun job kills the processes before the checkpoint is written"),
    Mutant("resume-grad-norm", "training/loop.py", 'self.step, self.style_grad_norm = info["step"], info["style_grad_norm"]',
           'self.step, self.style_grad_norm = info["step"], None', ("tests/test_train.py", "-k", "resume"),
           "the first auto-encoder step after a resume is not balanced"),
    Mutant("resume-optimizer", "training/start.py", "optimizer.load_state_dict(saved.optimizer_state)", "pass",
           ("tests/test_train.py", "-k", "resume"), "a resumed run restarts Adam's moments"),
    Mutant("add-style-no-update", "training/loop.py", "            self.optimizer.step()",
           "            if not self.adding_styles:\n                self.optimizer.step()",
           ("tests/test_styles.py", "-k", "add_style"), "add-style's new bank never learns"),
    Mutant("add-style-unfrozen", "training/loop.py", "module.requires_grad_(not self.adding_styles)",
           "module.requires_grad_(True)", ("tests/test_styles.py", "-k", "bit_identical"),
           "add-style changes the encoder/decoder and the old styles"),
    Mutant("add-style-inherits-anneal", "config.py", "lr=ADD_STYLE_LR, lr_anneal=TrainConfig.lr_anneal,",
           "lr=ADD_STYLE_LR,", ("tests/test_styles.py", "-k", "schedule"),
           "add-style anneals over the base model's anneal length, not its own last quarter"),
    Mutant("lambda-balance-removed", "training/loop.py", "p.grad.mul_(scale)", "p.grad.mul_(1.0)",
           ("tests/test_train.py", "-k", "balance"), "the auto-encoder gradient is not balanced against the style"),
    Mutant("lambda-ignored", "training/loop.py", 'scale = self.config.identity_balance * record["grad_ratio"]',
           'scale = record["grad_ratio"]', ("tests/test_train.py", "-k", "balance"), "--identity-balance does nothing"),
    Mutant("sigterm-unhandled", "training/loop.py", "for s in (signal.SIGINT, signal.SIGTERM)", "for s in (signal.SIGINT,)",
           ("tests/test_train.py", "-k", "sigterm"), "`kill` or a scheduler's SIGTERM loses the steps since the last "
           "checkpoint"),
    Mutant("stale-temporaries-kept", "training/loop.py", "self.clear_stale_temporaries()", "pass",
           ("tests/test_interruption.py",), "files left by a killed write pile up beside the model"),
    Mutant("non-finite-not-skipped", "training/loop.py", "if self.is_finite(loss):", "if True:",
           ("tests/test_train.py", "-k", "non_finite"), "a NaN step poisons the model"),
    Mutant("no-anneal", "training/schedule.py", "factor *= 0.5 * (1 + math.cos(", "factor *= 1 or (1 + math.cos(",
           ("tests/test_train.py", "-k", "anneal"), "--lr-anneal does nothing"),
    Mutant("lr-not-from-step", "training/loop.py", 'group["lr"] = self.learning_rate(self.step)',
           'group["lr"] = self.config.lr', ("tests/test_train.py", "-k", "adam_steps"),
           "the learning rate schedule (ramp, decay, anneal) does nothing"),
    Mutant("resume-before-checkpoint-fails", "training/start.py", "    if checkpoint.exists():\n        return True",
           "    if True:\n        return True", ("tests/test_train.py", "-k", "before_any_checkpoint"),
           "a job killed during start-up and rerun with --resume fails instead of starting"),
    Mutant("config-rules-unchecked", "config.py",
           "problem = rule.problem(getattr(self, config_field.name)) if rule else None", "problem = None",
           ("tests/test_config.py",), "--lr 0 or a negative warm-up is accepted and fails (or misbehaves) later"),
    Mutant("no-warmup", "training/schedule.py", "    if step < warmup:\n        return IDENTITY", "    pass",
           ("tests/test_train.py", "-k", "alternation"), "the auto-encoder warm-up is skipped"),
    Mutant("styles-visited-unevenly", "training/batches.py",
           "torch.randperm(num_styles, generator=stream(seed, round_, STYLE_STREAM)).tolist()", "[0] * num_styles", ("tests/test_train.py", "-k", "evenly"), "one style trained, the others never"),
    # losses
    Mutant("gram-across-batch", "losses.py", "return flat.transpose(1, 2) @ flat / (channels * height * width)",
           "return (flat.transpose(1, 2) @ flat).mean(0, keepdim=True).expand(batch, -1, -1) / (channels * height * width)",
           ("tests/test_losses.py",), "the Gram matrix mixes the styles of a batch (a known bug of one port)"),
    Mutant("style-loss-not-relative", "losses.py", "return error / target.float().pow(2).sum(dims).clamp_min(1e-12)",
           "return error", ("tests/test_losses.py",), "one high-contrast style drowns the others"),
    # the network
    Mutant("output-not-cropped", "model.py", "return self.decoder(features, encoded.statistics)[..., :height, :width]",
           "return self.decoder(features, encoded.statistics)", ("tests/test_model.py", "-k", "input_size"),
           "outputs padded to a multiple of 4 instead of the input's size"),
    Mutant("model-changed", "model.py", "F.pad(images, (0, pad_w, 0, pad_h), mode=\"reflect\")",
           "F.pad(images, (0, pad_w, 0, pad_h), mode=\"replicate\")", ("tests/test_golden.py",),
           "the bundled model's pictures change"),
    # fusion
    Mutant("blend-not-normalised", "fusion.py", "return {index: weight / total for index, weight in weights.items()}",
           "return dict(weights)", ("tests/test_fusion.py", "-k", "specs or fusion"),
           "'mosaic:1,waves:3' is not the 1:3 blend"),
    Mutant("strength-ignored", "model.py", "return painted if strength == 1 else", "return painted if True else",
           ("tests/test_fusion.py", "-k", "strength"), "--strength does nothing"),
    Mutant("region-masks-swapped", "model.py", "zip(decoded, region_pixel_masks(", "zip(decoded[::-1], region_pixel_masks(",
           ("tests/test_fusion.py", "-k", "regions"), "each region gets another region's style"),
    Mutant("regions-washed-out", "model.py", "decoded = self.decode(stylized, encoded.repeated(",
           "stylized = stylized.mean(0, keepdim=True).expand_as(stylized); decoded = self.decode(stylized, "
           "encoded.repeated(", ("tests/test_fusion.py", "-k", "regions"),
           "the regions' features mixed before decoding: each style washed out"),
    Mutant("onnx-strength-mixes-features", "backends/onnx_runtime.py", "if strength in (0, 1):", "if True:",
           ("tests/test_fast_paths.py", "-k", "onnx_runtime_matches"),
           "--strength on ONNX Runtime mixes features, not pictures as PyTorch does"),
    Mutant("kmeans-bright-first", "fusion.py", "centres[np.argsort(centres @ np.array([0.299, 0.587, 0.114]))]",
           "centres[np.argsort(-(centres @ np.array([0.299, 0.587, 0.114])))]", ("tests/test_fusion.py", "-k", "kmeans"),
           "kmeans regions not ordered dark to bright as documented"),
    Mutant("preserve-color-ignores-photo", "fusion.py",
           'xp.einsum("ij,...jhw->...ihw", chroma, content)', 'xp.einsum("ij,...jhw->...ihw", chroma, stylized)',
           ("tests/test_fusion.py", "-k", "preserve"), "--preserve-color keeps the style's colours"),
    # fast paths
    Mutant("auto-without-gate", "backends/pytorch.py", "if image_psnr(fast, exact) >= AUTO_BF16_MIN_PSNR:", "if True:",
           ("tests/test_fast_paths.py", "-k", "auto"), "precision auto takes bf16 even where it is far from fp32"),
    Mutant("bf16-never-detected", "runtime.py", "return any(probe() for probe in probes if probe is not None)",
           "return False", ("tests/test_fast_paths.py", "-k", "auto or bf16"), "machines with native bf16 run fp32"),
    Mutant("tile-margin-too-small", "backends/tiling.py", "needed = receptive_radius(net) + SIZE_MULTIPLE",
           "needed = SIZE_MULTIPLE", ("tests/test_fast_paths.py", "-k", "tiles"), "seams between tiles"),
    Mutant("per-tile-statistics", "backends/tiling.py", "with whole_image_statistics(net, statistics):",
           "with whole_image_statistics(net):", ("tests/test_fast_paths.py", "-k", "tiles"),
           "each tile gets its own colours"),
    Mutant("onnx-strength-ignored", "backends/export.py", "weights = strength * region_weights", "weights = region_weights",
           ("tests/test_fast_paths.py", "-k", "onnx_runtime_matches"), "--strength does nothing in ONNX Runtime"),
    Mutant("export-changes-callers-network", "backends/export.py", 'BlendedBankNet(copy.deepcopy(net).to("cpu").float())',
           'BlendedBankNet(net.to("cpu").float())', ("tests/test_backends.py", "-k", "export"),
           "exporting to ONNX moves the caller's model to the CPU and to fp32"),
    Mutant("onnx-cache-ignores-style-names", "backends/onnx_runtime.py", "json.dumps(list(styles)).encode()", 'b""',
           ("tests/test_backends.py", "-k", "cache"), "a renamed model gets an old export with the old style names"),
    Mutant("preserve-color-dropped", "backends/stylizer.py", "keep_content_colors(output, batch) if options.preserve_color",
           "keep_content_colors(output, batch) if False",
           ("tests/test_backends.py", "tests/test_fusion.py", "-k", "preserve"),
           "--preserve-color does nothing on any backend"),
    # files
    Mutant("style-file-not-loaded", "checkpoint.py", "        bank.load_state_dict(state)",
           "        pass", ("tests/test_styles.py", "-k", "export_import"),
           "an imported style is a random bank"),
    Mutant("fingerprint-unchecked", "checkpoint.py", 'if info.get("fingerprint") != encoder_decoder_fingerprint(net):',
           "if False:", ("tests/test_styles.py", "-k", "another_encoder"),
           "a style is imported into a model whose E/D it doesn't fit"),
    Mutant("pickle-not-recognised", "formats.py", 'if start == b"PK" or', "if False and",
           ("tests/test_bad_inputs.py", "-k", "model_files"), "a pickle gets a confusing message"),
    Mutant("weights-only-false", "lossnet.py", 'return torch.load(path, map_location="cpu", weights_only=True), {}',
           'return torch.load(path, map_location="cpu", weights_only=False), {}',
           ("tests/test_bad_inputs.py", "-k", "pickle"), "a pickled loss network runs its code"),
    # images and the command line
    Mutant("max-pixels-ignored", "images.py", "if limit and width * height > limit:", "if False:",
           ("tests/test_bad_inputs.py", "tests/test_video.py", "-k", "bomb or pixel_limit or bad_video"),
           "a decompression bomb fills the memory"),
    Mutant("sixteen-bit-clipped", "images.py", "grey = np.clip(np.round(values * (255.0 / top)), 0, 255)",
           "grey = np.clip(values, 0, 255)", ("tests/test_images.py", "tests/test_bad_inputs.py", "-k", "16"),
           "16-bit photos come out white"),
    Mutant("exif-ignored", "images.py", "to_rgb(ImageOps.exif_transpose(image))", "to_rgb(image)",
           ("tests/test_bad_inputs.py", "-k", "exif"), "phone photos come out on their side"),
    Mutant("alpha-on-black", "images.py", 'background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))',
           'background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))',
           ("tests/test_images.py", "-k", "transparency"),
           "transparent pixels turn black instead of white"),
    Mutant("overwrite-without-asking", "cli/options.py", "if target.exists() and not overwrite:", "if False:",
           ("tests/test_bad_inputs.py", "-k", "overwritten"), "an existing file is replaced without --overwrite"),
    Mutant("style-images-not-stored", "checkpoint.py",
           "return write_safetensors(path, {**net.state_dict(), **style_image_tensors(style_pixels)}, info)",
           "return write_safetensors(path, net.state_dict(), info)", ("tests/test_self_contained.py",),
           "a model file needs its style images where it was trained: eval fails from another folder"),
    Mutant("style-file-drops-its-image", "checkpoint.py", 'tensors["style_image"] = style_pixels', "pass",
           ("tests/test_self_contained.py", "-k", "style_file"), "an imported style has no image to evaluate against"),
    Mutant("rerun-counts-as-failure", "cli/stylize.py", "return (not job.named and job.target.exists()",
           "return (False and not job.named and job.target.exists()",
           ("tests/test_stylize_cli.py", "-k", "rerun"), "rerunning a batch fails every existing output (exit 1)"),
    Mutant("default-name-ignores-settings", "cli/stylize.py", 'label += f"_strength{options.strength:g}"', "pass",
           ("tests/test_stylize_cli.py", "-k", "default_names"),
           "--strength 0.5 after a first run fails with 'already exists' (the same default name)"),
    Mutant("resume-iterations-unchecked", "config.py", 'check_resumed_iterations(config, info["step"], checkpoint)',
           "pass", ("tests/test_train.py", "-k", "fewer_iterations"),
           "--resume --iterations 1 blames --warmup, which a resumed run cannot change"),
    Mutant("jpeg-mask-unexplained", "fusion.py", "if regions > styles and rare > regions / 2:", "if False:",
           ("tests/test_fusion.py", "-k", "jpeg"), "a JPEG label mask fails with 'the mask has 931 regions' alone"),
    Mutant("import-ignores-rename", "backends/pytorch.py",
           "new_names = [checked_style_name(rename[name]) if name in rename else name for name in names]",
           "new_names = list(names)", ("tests/test_styles.py", "-k", "import_can_rename"),
           "import-style --rename does nothing: a style whose name the model has cannot be imported"),
    Mutant("log-line-not-mean", "training/report.py", "means = {key: sum(values) / len(values) for key, values in terms.items()}",
           "means = {key: values[-1] for key, values in terms.items()}",
           ("tests/test_train.py", "-k", "mean_of_its_branch"), "a log line shows one noisy iteration, not the mean"),
    Mutant("plot-first-run-only", "plot.py", "for index, run in enumerate(runs):",
           "for index, run in enumerate(runs[:1]):", ("tests/test_plot.py",), "stylebank plot A B draws only A"),
    # the web studio
    Mutant("upload-not-counted", "web/limits.py", "if received > self.limit:", "if False:",
           ("tests/test_web.py", "tests/test_server.py", "-k", "limit"),
           "an upload without a Content-Length is read to its end, however large"),
    Mutant("declared-length-trusted", "web/limits.py", "if not declared.isdigit() or int(declared) > self.limit:",
           "if not declared.isdigit():", ("tests/test_web.py", "tests/test_server.py", "-k", "limit or malformed"),
           "a body that declares 100 GB is read before it is refused"),
    Mutant("queue-unbounded", "web/limits.py", "if self.admitted >= self.capacity:", "if False:",
           ("tests/test_web.py", "tests/test_server.py", "-k", "gate or burst"),
           "a burst of requests all wait, each holding its upload (no 503)"),
    Mutant("two-at-a-time", "web/limits.py", "with self.turn:", "if True:",
           ("tests/test_web.py", "tests/test_server.py", "-k", "gate or burst"),
           "a burst decodes and stylizes many photos at once: gigabytes of memory"),
    Mutant("serves-the-network", "cli/serving.py", 'serve.add_argument("--host", default="127.0.0.1",',
           'serve.add_argument("--host", default="0.0.0.0",', ("tests/test_server.py", "-k", "host"),
           "the studio is open to the whole network by default"),
    Mutant("mask-ignored", "web/jobs.py",
           'mask = load_label_image("the uploaded mask", max_pixels, data=job.mask) if job.mask is not None '
           "else job.regions",
           "mask = job.regions", ("tests/test_web.py", "-k", "region"),
           "the painted regions are ignored: one style everywhere"),
    Mutant("download-without-settings", "web/jobs.py", 'return png_bytes(result, {"stylebank": json.dumps(settings), ',
           'return png_bytes(result, {"stylebankx": json.dumps(settings), ', ("tests/test_web.py", "-k", "settings"),
           "the downloaded PNG does not say how it was made"),
    Mutant("bad-input-is-500", "web/app.py", 'return JSONResponse({"error": str(error)}, status_code=400)',
           'return JSONResponse({"error": str(error)}, status_code=500)', ("tests/test_web.py", "-k", "bad_request"),
           "a bad style or image is reported as the server's fault"),
    Mutant("brush-one-colour", "web/static/studio.js", "labels[row * width + col] = state.layer",
           "labels[row * width + col] = 1", ("tests/test_studio_browser.py", "-k", "paint"),
           "every brush colour paints the first region"),
    Mutant("regions-reordered", "web/static/studio.js", 'form.append("region_styles", layers.map(spec).join(";"));',
           'form.append("region_styles", layers.map(spec).reverse().join(";"));',
           ("tests/test_studio_browser.py", "-k", "paint"), "painted regions get each other's styles"),
    # video
    Mutant("coherence-off", "video/coherence.py", "weight = (self.coherence.carry * trust).to(current)",
           "weight = (0 * trust).to(current)", ("tests/test_video.py", "-k", "coherence"),
           "the default video flickers like frame-by-frame stylization"),
    Mutant("no-scene-cuts", "video/coherence.py", "if matches.float().mean() < self.coherence.scene_cut:",
           "if False:", ("tests/test_video.py", "-k", "scene_cut"),
           "after a cut, the old scene's picture is smeared over the new one"),
    Mutant("audio-dropped", "video/writer.py", "if self.audio_template is None or not self.is_video():",
           "if True:", ("tests/test_video.py", "-k", "audio"), "the stylized video is silent"),
    Mutant("frame-times-lost", "video/writer.py", "frame.pts = round(time / TIME_BASE)",
           "frame.pts = self.count * 3750", ("tests/test_video.py", "-k", "frame_rate or times"),
           "a variable frame rate video plays at the wrong speed"),
    Mutant("partial-video-left", "video/writer.py", "            self.partial.unlink(missing_ok=True)",
           "            pass", ("tests/test_video.py", "-k", "bad_video"),
           "an error midway leaves a half-written video behind"),
    Mutant("truncation-unnoticed", "video/reader.py", "if missing > max(2 / self.source.rate, 0.05 * length):",
           "if False:", ("tests/test_video.py", "-k", "bad_video"),
           "a truncated file becomes a shorter video without a word"),
    Mutant("kmeans-every-frame", "video/pipeline.py", "if not isinstance(self.options.mask, str):", "if True:",
           ("tests/test_video.py", "-k", "generator"), "K-means regions are found anew on every frame: they flicker"),
    # speed: CPU inference without PyTorch where it can, channels-last where it runs, folders overlapped
    Mutant("cpu-exposure-dropped", "model.py",
           "weights, biases = weights * (1 + scale), biases * (1 + scale) + shift", "weights, biases = weights, biases",
           ("tests/test_model.py", "-k", "channels_last"), "on a CPU every photo is painted at one exposure"),
    Mutant("cpu-phases-swapped", "model.py", "phases[:, a:a + height, b:b + width, a, b]",
           "phases[:, a:a + height, b:b + width, b, a]", ("tests/test_model.py", "-k", "channels_last"),
           "on a CPU the decoder scrambles each 2x2 block of pixels"),
    Mutant("cpu-network-stale", "backends/pytorch.py", "key = tuple((id(p), p._version) for p in self.net.parameters())",
           "key = tuple(id(p) for p in self.net.parameters())",
           ("tests/test_fast_paths.py", "-k", "channels_last_copy"),
           "a model edited or trained in memory keeps painting with its old weights"),
    Mutant("same-output-not-awaited", "overlap.py", "                    earlier.exception()  # waits for it to finish",
           "                    pass", ("tests/test_overlap.py",),
           "two inputs with one output name race: the second overwrites the first instead of being skipped"),
    Mutant("folder-not-overlapped", "overlap.py",
           "outcome = finished(SKIPPED) if result is SKIPPED else writer.submit(guarded_write, job, result)",
           "outcome = finished(SKIPPED) if result is SKIPPED else reader.submit(guarded_write, job, result)",
           ("tests/test_overlap.py",),
           "a folder waits for each photo to be written before the next is read"),
    Mutant("folders-on-onnx-runtime", "backends/auto.py",
           "return backend == \"auto\" and images >= TORCH_FROM_IMAGES and cpu_has_amx()", "return False", ("tests/test_auto_backend.py", "-k", "many_images"),
           "folders, videos and the studio run 3x slower on CPUs with AMX"),
    Mutant("amx-misread", "runtime.py", "return \"amx_bf16\" in flags.split()",
           "return \"avx512_bf16\" in flags.split()", ("tests/test_auto_backend.py", "-k", "amx"), "CPUs without AMX get PyTorch's slower start for folders"),
    Mutant("info-unchecked", "cli/models.py", "    config = check_weights(info, shapes, path)",
           "    config = __import__('stylebank.formats').formats.network_of(info, path)[0]",
           ("tests/test_bad_inputs.py", "-k", "model_files"), "info describes a broken model file as a good one"),
    Mutant("studio-early-pick-lost", "web/static/studio.js", "  if (!(await started)) return;", "",
           ("tests/test_studio_browser.py", "-k", "while_the_styles_load"),
           "a photo chosen while the page is still loading is silently dropped"),
]


def apply(work: Path, mutant: Mutant) -> str | None:
    """Write the mutant into the copy; returns the original text to restore, None if the line isn't there once."""
    path = work / "src" / "stylebank" / mutant.file
    text = path.read_text()
    if text.count(mutant.original) != 1:
        return None
    path.write_text(text.replace(mutant.original, mutant.mutated))
    return text


def run_mutant(work: Path, mutant: Mutant, timeout: float) -> dict:
    started = time.perf_counter()
    original = apply(work, mutant)
    if original is None:
        outcome, code = "stale", None
    else:
        code, _ = run_tests(work, mutant.tests, timeout)
        (work / "src" / "stylebank" / mutant.file).write_text(original)
        outcome = "survived" if code == 0 or code in NO_TESTS else "caught"
    return {"name": mutant.name, "file": mutant.file, "outcome": outcome, "exit_code": code,
            "seconds": round(time.perf_counter() - started, 1), "breaks": mutant.breaks}


def report(paths: list[str]) -> str:
    """Markdown: one row per mutant, one column per saved --json run, and each run's score."""
    runs = [json.loads(Path(path).read_text()) for path in paths]
    outcomes = [{m["name"]: m["outcome"] for m in run["mutants"]} for run in runs]
    names = list(dict.fromkeys(name for run in outcomes for name in run))
    breaks = {m["name"]: m["breaks"] for run in runs for m in run["mutants"]}
    lines = ["| mutant | " + " | ".join(paths) + " | what it breaks |", "|---" * (len(paths) + 2) + "|"]
    lines += [f"| {name} | " + " | ".join(run.get(name, "-") for run in outcomes) + f" | {breaks[name]} |"
              for name in names]
    lines.append("| **caught** | " + " | ".join(f"**{run['caught']} of {run['total']}**" for run in runs) + " | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these mutants (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--json", metavar="FILE", help="write the outcome of each mutant to FILE")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the unmutated run of the selected tests (faster; trust it only when the suite passes)")
    parser.add_argument("--report", nargs="+", metavar="FILE", help="print saved --json runs as a markdown table")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per test run (default 600)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the checkout whose src/ and tests/ to use (default: this one)")
    args = parser.parse_args()
    known = {m.name: m for m in MUTANTS}
    if args.report:
        print(report(args.report))
        return
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:30s} {m.file:14s} {m.breaks}")
        return
    unknown = [n for n in args.names if n not in known]
    if unknown:
        sys.exit(f"unknown mutant(s): {', '.join(unknown)} (see --list)")
    chosen = [known[n] for n in args.names] if args.names else MUTANTS

    with tempfile.TemporaryDirectory(prefix="stylebank-mutants-") as folder:
        work = Path(folder)
        copy_tree(args.root, work)
        check_imports_the_copy(work)
        for tests in [] if args.no_baseline else dict.fromkeys(m.tests for m in chosen):  # each passes unmutated
            code, tail = run_tests(work, tests, args.timeout)
            if code in NO_TESTS:
                print(f"note: no test matches {' '.join(tests)}", flush=True)
            elif code != 0:
                sys.exit(f"the unmutated tests fail ({' '.join(tests)}):\n{tail}")
        results = []
        for mutant in chosen:
            results.append(run_mutant(work, mutant, args.timeout))
            print(f"{results[-1]['outcome']:8s} {mutant.name:30s} {results[-1]['seconds']:6.1f} s  {mutant.breaks}",
                  flush=True)
    counts = {outcome: sum(r["outcome"] == outcome for r in results) for outcome in ("caught", "survived", "stale")}
    caught = counts["caught"]
    print(f"\n{caught} of {len(results)} mutants caught, {counts['survived']} survived"
          + (f", {counts['stale']} stale (their line is not in the code)" if counts["stale"] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"caught": caught, "total": len(results), "mutants": results},
                                              indent=2) + "\n")
    sys.exit(0 if caught == len(results) else 1)


if __name__ == "__main__":
    main()
