"""Write the model of a run in progress: a checkpoint's weights as a model file, for `stylebank eval`, `stylize`…

    python scripts/checkpoint_model.py runs/default/v2.checkpoint.safetensors -o /tmp/v2_now.safetensors
"""

from __future__ import annotations

import argparse

from stylebank.checkpoint import load_checkpoint, save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a training checkpoint (MODEL.checkpoint.safetensors)")
    parser.add_argument("-o", "--output", required=True, help="the model file to write")
    args = parser.parse_args()
    saved = load_checkpoint(args.checkpoint)
    training = {**saved.info["config"], "steps_done": saved.info["step"]}
    save_model(args.output, saved.net, saved.info["styles"], saved.info["loss_network"], training,
               saved.info.get("style_images"), saved.style_pixels)
    print(f"wrote {args.output}: the run at iteration {saved.info['step']}")


if __name__ == "__main__":
    main()
