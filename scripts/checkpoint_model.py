"""Write the model of a run in progress: a checkpoint's weights as a model file, for `stylebank eval`, `stylize`…

    python scripts/checkpoint_model.py runs/default/v2.checkpoint.safetensors -o /tmp/v2_now.safetensors
"""

from __future__ import annotations

import argparse

from stylebank.checkpoint import save_checkpoint_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a training checkpoint (MODEL.checkpoint.safetensors)")
    parser.add_argument("-o", "--output", required=True, help="the model file to write")
    args = parser.parse_args()
    written, step = save_checkpoint_model(args.checkpoint, args.output)
    print(f"wrote {written}: the run at iteration {step}")


if __name__ == "__main__":
    main()
