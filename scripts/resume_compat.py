"""Does a checkpoint written by an older stylebank still resume exactly? (The checkpoint format must not break.)

    python scripts/resume_compat.py --old 6921451

Checks out ``--old`` into a temporary git worktree; with that code, trains a tiny run for 8 iterations
uninterrupted and writes another run's checkpoint after 4 of its 8; then this checkout's code resumes that
checkpoint to 8 and prints the largest weight difference from the uninterrupted model (0.0: bit-exact).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Both runs make the same pictures with this checkout's tests/helpers.py (numpy and PIL only, so it runs under the
# old code too; an old checkout's tests may not have that module)
SETTINGS = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from helpers import smooth_image, stripes
    root = Path({root!r})
    (root / "content").mkdir(exist_ok=True)
    for i in range(3):
        smooth_image(i, 48, 52).save(root / "content" / f"p{{i}}.png")
    stripes(10, 48).save(root / "zebra.png")
    smooth_image(11, 48, 48).save(root / "blobs.png")
    common = dict(content=[str(root / "content")], styles=[str(root / "zebra.png"), str(root / "blobs.png")],
                  image_size=32, style_size=32, batch_size=2, vgg="random", warmup=2, lr_ramp=3, lr_anneal=0,
                  checkpoint_every=100, sample_every=100, log_every=1, device="cpu", iterations=8)
""")

OLD_RUNS = SETTINGS + textwrap.dedent("""
    from stylebank.config import TrainConfig
    try:
        from stylebank.training.loop import Trainer, train
    except ImportError:  # a checkout from before the training package
        from stylebank.train import Trainer, train
    train(TrainConfig(output=str(root / "uninterrupted.safetensors"), **common), progress=False)
    trainer = Trainer(TrainConfig(output=str(root / "resumed.safetensors"), **common))
    for _ in range(4):
        trainer.train_step()
    trainer.save_checkpoint()
""")

NEW_RESUME = SETTINGS + textwrap.dedent("""
    from stylebank.checkpoint import load_model
    from stylebank.config import TrainConfig
    from stylebank.training.loop import train
    resumed = train(TrainConfig(output=str(root / "resumed.safetensors"), **common), resume=True, progress=False)
    old = load_model(root / "uninterrupted.safetensors").net
    new = load_model(resumed).net
    print(max((a - b).abs().max().item() for a, b in zip(old.state_dict().values(), new.state_dict().values())))
""")


def run(code: str, source: Path) -> str:
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(source / "src"), "PATH": ""},
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="the commit whose checkpoint this checkout must resume")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        old_tree, data = Path(folder) / "old", Path(folder) / "data"
        data.mkdir()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), args.old], check=True,
                       capture_output=True)
        try:
            run(OLD_RUNS.format(tests=str(ROOT / "tests"), root=str(data)), old_tree)
            difference = run(NEW_RESUME.format(tests=str(ROOT / "tests"), root=str(data)), ROOT)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=True)
    print(f"a checkpoint of {args.old} (4 of 8 iterations) resumed by this checkout: largest weight difference "
          f"from {args.old}'s uninterrupted run = {difference}")


if __name__ == "__main__":
    main()
