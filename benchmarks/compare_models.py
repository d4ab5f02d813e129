"""Two models side by side, for the README's "The bundled model": their held-out measurements (two saved
``stylebank eval --baseline gatys --json`` outputs) and each model's reconstruction of the astronaut at the
exposures of the parameter study (as it is, 0.6x darker, 0.5x+0.25, 0.7x+0.3), measured here.

    python benchmarks/compare_models.py OLD_MODEL OLD_EVAL.json NEW_MODEL NEW_EVAL.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import stylebank
from helpers import exposure_psnr
from stylebank.images import load_image
from stylebank.tensors import resize_to_fit, to_tensor


def eval_rows(old: dict, new: dict) -> list[str]:
    """Markdown rows: reconstruction, then per style the style loss, its ratios and the content ratio."""
    rows = ["| measure | old | new |", "|---|---|---|"]
    for key, form in (("psnr", ".2f"), ("ssim", ".3f")):
        rows.append(f"| reconstruction {key.upper()} | {old['reconstruction'][key]:{form}} | "
                    f"{new['reconstruction'][key]:{form}} |")
    for style in new["styles"]:
        pair = (old["styles"][style], new["styles"][style])
        rows.append(f"| {style}: style loss | {pair[0]['style_loss']:.3f} | {pair[1]['style_loss']:.3f} |")
        rows.append(f"| {style}: × below unstylized | "
                    + " | ".join(f"{s['reconstruction_style_loss'] / s['style_loss']:.1f}" for s in pair) + " |")
        rows.append(f"| {style}: style / Gatys' | " + " | ".join(f"{s['ratios']['style']:.2f}" for s in pair) + " |")
        rows.append(f"| {style}: content / Gatys' | "
                    + " | ".join(f"{s['ratios']['content']:.2f}" for s in pair) + " |")
    return rows


def exposure_rows(old_model: str, new_model: str, size: int) -> list[str]:
    photo = resize_to_fit(to_tensor(load_image("builtin:astronaut")), size)
    results = [exposure_psnr(stylebank.load(path, device="cpu"), photo) for path in (old_model, new_model)]
    return [f"| astronaut {name}: reconstruction PSNR dB | {results[0][name]:.1f} | {results[1][name]:.1f} |"
            for name in results[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_model")
    parser.add_argument("old_eval", type=Path)
    parser.add_argument("new_model")
    parser.add_argument("new_eval", type=Path)
    parser.add_argument("--size", type=int, default=256, help="the astronaut's longer side (default 256)")
    args = parser.parse_args()
    old, new = (json.loads(path.read_text()) for path in (args.old_eval, args.new_eval))
    print("\n".join(eval_rows(old, new) + exposure_rows(args.old_model, args.new_model, args.size)))


if __name__ == "__main__":
    main()
